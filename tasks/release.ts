/**
 * `deno task release`: build, push, SBOM, sign, attest and verify one image, by the digest
 * the registry assigned (never a local image ID, never the tag, which can move).
 *
 * Steps, in order; the first that fails ends the run with exit 1 and its name, and the
 * steps after it are reported as skipped:
 *
 * 1. `build` the target with the OCI labels filled (version from deno.json, revision from
 *    git, created time from `SOURCE_DATE_EPOCH` or now), or `tag` an image built before
 *    (`--from IMAGE`);
 * 2. `push` it and read the manifest digest from the registry's answer;
 * 3. `sbom`: one CycloneDX document (cdxgen) for deno.lock's npm packages, the image's Debian
 *    packages and Deno itself (see release/sbom.ts);
 * 4. `sign` the digest with cosign (a key pair with `COSIGN_PASSWORD`, or keyless in CI);
 * 5. `attest` the SBOM to the digest (`cosign attest --type cyclonedx`);
 * 6. `verify-signature` and 7. `verify-attestation` with the public key (or the keyless
 *    identity), checking that what cosign vouches for is this digest and this SBOM.
 *
 * On success it prints `REGISTRY/REPO@sha256:...` on stdout: the reference deployments use.
 * `--verify-only` runs steps 6 and 7 on a published image, as a consumer would.
 *
 * The tools (cosign, cdxgen) are found on PATH or through `COSIGN` / `CDXGEN`, which is why
 * the task runs programs by any path (`--allow-run` without a list). They never enter the
 * image: cdxgen reads the image from outside.
 *
 * @example
 * ```sh
 * COSIGN_PASSWORD=... deno task release --image ghcr.io/acme/swft:1.0.0 --key cosign.key \
 *   --json release.json --sbom sbom.cdx.json
 * deno task release --verify-only --image ghcr.io/acme/swft:1.0.0 --key cosign.pub
 * ```
 *
 * @module
 */
import {
  docker,
  finishReport,
  formatMs,
  lastLines,
  onInterrupt,
  parseFlags,
  progress,
  readDenoJson,
  type ReportHead,
  ROOT,
  run,
  runTask,
  startReport,
  UsageError,
  writeReport,
} from "./_lib/mod.ts";
import {
  attestArgs,
  attestedStatements,
  cosign,
  cosignFailure,
  signArgs,
  type SigningOptions,
  verifiedDigests,
  verifyArgs,
  verifyAttestationArgs,
} from "./release/cosign.ts";
import {
  type ImageRef,
  isLoopbackRegistry,
  parseImageRef,
  pushedDigest,
} from "./release/image_ref.ts";
import { appPackages, type Bom, cdxgen, mergeBoms } from "./release/sbom.ts";

const TOOL = "release";

/** The command line, as `--help` prints it. */
export const HELP = `Usage: deno task release --image REGISTRY/REPO:TAG [options]

Builds (or takes) an image, pushes it, generates a CycloneDX SBOM, signs the registry's
digest with cosign, attests the SBOM and verifies both; prints REGISTRY/REPO@sha256:...

Options:
  --image REF                  where to push: REGISTRY/REPO:TAG (required); with @sha256:...
                               appended, an image pushed before (e.g. by buildx): pulled,
                               not built or pushed
  --target NAME                Dockerfile stage to build (default runtime)
  --build-arg K=V              build argument, repeatable (overrides VERSION/REVISION/CREATED)
  --from IMAGE                 release this local image instead of building
  --key FILE                   cosign private key (password in COSIGN_PASSWORD);
                               without it: keyless signing (CI OIDC)
  --pub FILE                   public key to verify with (default: derived from --key)
  --certificate-identity ID    keyless: the signer identity verification requires
  --certificate-oidc-issuer U  keyless: the OIDC issuer verification requires
  --no-tlog                    no transparency log: sign with --tlog-upload=false and verify
                               with --insecure-ignore-tlog (offline or private setups)
  --json FILE                  write the JSON report
  --sbom FILE                  keep the SBOM (CycloneDX JSON)
  --verify-only                only verify a published image (--key is then the public key)
  -h, --help                   this help

Environment: COSIGN_PASSWORD, COSIGN (cosign binary), CDXGEN (cdxgen binary),
SOURCE_DATE_EPOCH (the created time).
`;

/** Options after parsing. */
export interface ReleaseOptions {
  /** `--image`, parsed. */
  image: ImageRef;
  /** `--image` as given. */
  imageText: string;
  /** `--target`: the Dockerfile stage to build. */
  target: string;
  /** `--build-arg K=V` values, in order. */
  buildArgs: string[];
  /** `--from`: a local image to release instead of building. */
  from?: string;
  /** How to sign and verify. */
  signing: SigningOptions;
  /** `--json`: where to write the report. */
  json?: string;
  /** `--sbom`: where to keep the SBOM. */
  sbom?: string;
  /** `--verify-only`: only the verification steps. */
  verifyOnly: boolean;
}

/** One step of the run, as reported. */
export interface Step {
  /** `key`, `build` or `tag`, `push` or `pull`, `sbom`, `sign`, `attest`, `verify-signature`, `verify-attestation`. */
  id: string;
  /** `skip`: not run because an earlier step failed. */
  status: "pass" | "fail" | "skip";
  /** What it did, or why it failed, in one line. */
  detail: string;
  /** Wall time in milliseconds. */
  ms: number;
}

/** The `--json` report. */
export interface ReleaseReport extends ReportHead {
  /** `--image` as given. */
  image: string;
  /** `REGISTRY/REPO@sha256:...`, only once everything passed. */
  reference: string | null;
  /** The registry's manifest digest, once known. */
  digest: string | null;
  /** The SBOM (its path with `--sbom`) and its component count. */
  sbom: { path: string | null; components: number } | null;
  /** Whether `cosign verify` vouched for the digest; key pair or keyless. */
  signature: { verified: boolean; mode: "key" | "keyless" };
  /** Whether `cosign verify-attestation` found this SBOM on the digest. */
  attestations: { type: "cyclonedx"; verified: boolean }[];
  /** Every step, in order. */
  steps: Step[];
}

/** Parses and checks the command line; throws a {@linkcode UsageError}. */
export function parseReleaseArgs(args: string[]): ReleaseOptions | "help" {
  const { values } = parseFlags(args, {
    image: { type: "string" },
    target: { type: "string", default: "runtime" },
    "build-arg": { type: "string", multiple: true, default: [] },
    from: { type: "string" },
    key: { type: "string" },
    pub: { type: "string" },
    "certificate-identity": { type: "string" },
    "certificate-oidc-issuer": { type: "string" },
    "no-tlog": { type: "boolean", default: false },
    json: { type: "string" },
    sbom: { type: "string" },
    "verify-only": { type: "boolean", default: false },
  });
  if (values.help) return "help";
  if (!values.image) throw new UsageError("--image REGISTRY/REPO:TAG is required");
  let image: ImageRef;
  try {
    image = parseImageRef(values.image);
  } catch (error) {
    throw new UsageError(`--image: ${(error as Error).message}`);
  }
  const verifyOnly = values["verify-only"];
  if (!verifyOnly && !image.tag) {
    throw new UsageError("--image must name a tag to push, e.g. REGISTRY/REPO:1.0.0");
  }
  if (!verifyOnly && image.digest && (values.from || values["build-arg"].length > 0)) {
    throw new UsageError(
      "--image TAG@DIGEST is already pushed: --from and --build-arg do not apply",
    );
  }
  if (verifyOnly && !image.tag && !image.digest) {
    throw new UsageError("--image must name a tag or a digest to verify");
  }
  const buildArgs = values["build-arg"];
  for (const arg of buildArgs) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) {
      throw new UsageError(`--build-arg must be KEY=VALUE, got "${arg}"`);
    }
  }
  if (values.from && (buildArgs.length > 0 || args.some((a) => a.startsWith("--target")))) {
    throw new UsageError("--from takes a built image: --target and --build-arg do not apply");
  }
  const keyless = !values.key;
  if (keyless && values["no-tlog"]) {
    throw new UsageError("--no-tlog needs --key: keyless signatures live in the transparency log");
  }
  if (keyless && !(values["certificate-identity"] && values["certificate-oidc-issuer"])) {
    throw new UsageError(
      "without --key (keyless), --certificate-identity and --certificate-oidc-issuer are required",
    );
  }
  for (const [flag, path] of [["--key", values.key], ["--pub", values.pub]] as const) {
    if (path && !isReadable(path)) throw new UsageError(`${flag}: cannot read ${path}`);
  }
  return {
    image,
    imageText: values.image,
    target: values.target,
    buildArgs,
    from: values.from,
    signing: {
      key: verifyOnly ? undefined : values.key,
      publicKey: verifyOnly ? values.pub ?? values.key : values.pub,
      identity: values["certificate-identity"],
      issuer: values["certificate-oidc-issuer"],
      noTlog: values["no-tlog"],
      loopback: isLoopbackRegistry(image.registry),
    },
    json: values.json,
    sbom: values.sbom,
    verifyOnly,
  };
}

function isReadable(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function gitRevision(): Promise<string> {
  const result = await run("git", ["rev-parse", "HEAD"], { cwd: ROOT });
  return result.code === 0 ? result.stdout.trim() : "unknown";
}

/** The image's created time: `SOURCE_DATE_EPOCH` (reproducible builds) or now. */
function createdTime(): string {
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  const seconds = epoch && /^\d+$/.test(epoch) ? Number(epoch) : undefined;
  return new Date(seconds !== undefined ? seconds * 1000 : Date.now()).toISOString();
}

/** What the steps share as the run goes. */
interface State {
  digest?: string;
  pinned?: string;
  bom?: Bom;
  sbomPath?: string;
  publicKey?: string;
  tmp: string;
}

class StepError extends Error {}

/**
 * Runs a release (or `--verify-only`) and returns its report; never throws for a failed
 * step (the report says which).
 */
export async function release(options: ReleaseOptions): Promise<ReleaseReport> {
  const report: ReleaseReport = {
    ...startReport("swft-release"),
    image: options.imageText,
    reference: null,
    digest: null,
    sbom: null,
    signature: {
      verified: false,
      mode: options.signing.key || options.signing.publicKey ? "key" : "keyless",
    },
    attestations: [{ type: "cyclonedx", verified: false }],
    steps: [],
  };
  const tmp = await Deno.makeTempDir({ prefix: "swft-release-" });
  const removeTmp = () => Deno.remove(tmp, { recursive: true }).catch(() => {});
  const unregister = onInterrupt(removeTmp);
  const state: State = { tmp, publicKey: options.signing.publicKey };
  if (options.image.digest) {
    state.digest = options.image.digest;
    state.pinned = `${options.image.name}@${options.image.digest}`;
  }
  const image = options.imageText;
  const signing = () => ({ ...options.signing, publicKey: state.publicKey });

  const steps: [string, () => Promise<string>][] = [];
  if (!options.verifyOnly && options.signing.key) {
    // First, before anything is pushed: a wrong password or a broken key fails here. The
    // public half is derived for the verification, so it cannot be a stale file.
    steps.push(["key", async () => {
      const derived = `${tmp}/cosign.pub`;
      const pub = await cosign(["public-key", "--key", options.signing.key!, "--outfile", derived]);
      if (pub.code !== 0) {
        throw new StepError(
          `cosign public-key --key ${options.signing.key}: ${cosignFailure(pub)}`,
        );
      }
      state.publicKey ??= derived;
      return `${options.signing.key} opened, verifying with ${
        state.publicKey === derived ? "its public key" : state.publicKey
      }`;
    }]);
  }
  if (!options.verifyOnly && options.image.digest) {
    // Pushed already (a multi-platform build by buildx): fetch it for the SBOM's image scan.
    steps.push(["pull", async () => {
      const result = await docker(["pull", state.pinned!]);
      if (result.code !== 0) {
        throw new StepError(`docker pull ${state.pinned}: ${lastLines(result.stderr, 2)}`);
      }
      report.digest = state.digest!;
      return `${state.pinned} (pushed before)`;
    }]);
  } else if (!options.verifyOnly) {
    steps.push(
      options.from
        ? ["tag", async () => {
          const result = await docker(["tag", options.from!, image]);
          if (result.code !== 0) throw new StepError(lastLines(result.stderr, 2));
          return `${options.from} as ${image}`;
        }]
        : ["build", () => build(options)],
      ["push", async () => {
        const result = await docker(["push", image]);
        if (result.code !== 0) {
          throw new StepError(
            `docker push ${image}: ${lastLines(result.stderr || result.stdout, 2)}`,
          );
        }
        const digest = pushedDigest(result.stdout, options.image.tag!);
        if (!digest) throw new StepError(`docker push printed no digest for ${image}`);
        state.digest = digest;
        state.pinned = `${options.image.name}@${digest}`;
        report.digest = digest;
        return state.pinned;
      }],
    );
  }
  if (!options.verifyOnly) {
    steps.push(
      ["sbom", async () => {
        const bom = await sbom(options, state);
        state.bom = bom;
        state.sbomPath = options.sbom ?? `${tmp}/sbom.cdx.json`;
        await Deno.writeTextFile(state.sbomPath, JSON.stringify(bom, null, 2) + "\n");
        report.sbom = { path: options.sbom ?? null, components: bom.components?.length ?? 0 };
        return `${bom.components?.length ?? 0} components${
          options.sbom ? ` in ${options.sbom}` : ""
        }`;
      }],
      ["sign", async () => {
        const result = await cosign(signArgs(state.pinned!, signing()));
        if (result.code !== 0) throw new StepError(`cosign sign: ${cosignFailure(result)}`);
        return `${state.pinned} (${
          options.signing.key ? `key ${options.signing.key}` : "keyless"
        })`;
      }],
      ["attest", async () => {
        const result = await cosign(attestArgs(state.pinned!, state.sbomPath!, signing()));
        if (result.code !== 0) throw new StepError(`cosign attest: ${cosignFailure(result)}`);
        return "cyclonedx SBOM attached";
      }],
    );
  }
  steps.push(
    ["verify-signature", async () => {
      const ref = state.pinned ?? image;
      const result = await cosign(verifyArgs(ref, signing()));
      if (result.code !== 0) throw new StepError(`cosign verify ${ref}: ${cosignFailure(result)}`);
      const digests = verifiedDigests(result.stdout);
      const digest = state.digest ?? digests[0];
      if (!digest || !digests.includes(digest)) {
        throw new StepError(
          `cosign verify vouched for ${digests.join(", ") || "nothing"}, not ${digest}`,
        );
      }
      state.digest = digest;
      state.pinned = `${options.image.name}@${digest}`;
      report.digest = digest;
      report.signature.verified = true;
      return `signature on ${digest}`;
    }],
    ["verify-attestation", async () => {
      const result = await cosign(verifyAttestationArgs(state.pinned!, signing()));
      if (result.code !== 0) {
        throw new StepError(`cosign verify-attestation: ${cosignFailure(result)}`);
      }
      const hex = state.digest!.slice("sha256:".length);
      const ours = attestedStatements(result.stdout).filter((s) =>
        s.predicateType.includes("cyclonedx") && s.subject.some((x) => x.digest.sha256 === hex)
      );
      if (ours.length === 0) throw new StepError(`no CycloneDX attestation for ${state.digest}`);
      const serial = state.bom?.serialNumber;
      if (serial && !ours.some((s) => (s.predicate as Bom)?.serialNumber === serial)) {
        throw new StepError(`the attested SBOM is not the one generated (${serial})`);
      }
      report.attestations[0].verified = true;
      return `${ours.length} CycloneDX attestation(s) on ${state.digest}`;
    }],
  );

  let failed: string | undefined;
  try {
    for (const [id, fn] of steps) {
      if (failed) {
        report.steps.push({ id, status: "skip", detail: `not run: ${failed} failed`, ms: 0 });
        continue;
      }
      progress(TOOL, `${id}...`);
      const started = performance.now();
      try {
        const detail = await fn();
        const ms = Math.round(performance.now() - started);
        report.steps.push({ id, status: "pass", detail, ms });
        progress(TOOL, `${id}: ${detail} (${formatMs(ms)})`);
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        const detail = (error as Error).message.split("\n")[0];
        report.steps.push({ id, status: "fail", detail, ms });
        progress(TOOL, `${id} failed: ${detail}`);
        failed = id;
      }
    }
  } finally {
    unregister();
    await removeTmp();
  }
  const ok = !failed;
  if (ok) report.reference = state.pinned ?? null;
  return finishReport(report, ok);
}

async function build(options: ReleaseOptions): Promise<string> {
  const version = readDenoJson().version ?? "dev";
  const args = [
    "build",
    "--force-rm",
    "--target",
    options.target,
    "-t",
    options.imageText,
    "--build-arg",
    `VERSION=${version}`,
    "--build-arg",
    `REVISION=${await gitRevision()}`,
    "--build-arg",
    `CREATED=${createdTime()}`,
    // Given last, so the caller's values win.
    ...options.buildArgs.flatMap((arg) => ["--build-arg", arg]),
    ROOT,
  ];
  const result = await docker(args, {
    onLine: (line) => {
      if (/^Step \d+\/\d+ : FROM /.test(line)) progress(TOOL, `build: ${line}`);
    },
  });
  if (result.code !== 0) {
    throw new StepError(
      `docker build --target ${options.target}: ${lastLines(result.stdout + result.stderr, 2)}`,
    );
  }
  return `${options.imageText} (target ${options.target}, version ${version})`;
}

/** Deno's version inside the image: the app answers `--version` with `swft X (deno Y)`. */
async function denoVersionOf(image: string): Promise<string> {
  const result = await docker(["run", "--rm", "--network", "none", image, "--version"]);
  const version = /\(deno ([\w.+-]+)\)/.exec(result.stdout)?.[1];
  if (!version) {
    throw new StepError(
      `${image} --version did not name its Deno version: ${
        lastLines(result.stdout + result.stderr, 1)
      }`,
    );
  }
  return version;
}

async function sbom(options: ReleaseOptions, state: State): Promise<Bom> {
  // By digest: the image that was pushed, even if the local tag moved since.
  const imageBom = await cdxgen("docker", state.pinned!, `${state.tmp}/image.cdx.json`);
  // Only the lockfile and the manifest: cdxgen reads nothing else of the project.
  const project = `${state.tmp}/project`;
  await Deno.mkdir(project);
  await Deno.copyFile(`${ROOT}/deno.json`, `${project}/deno.json`);
  await Deno.copyFile(`${ROOT}/deno.lock`, `${project}/deno.lock`);
  const lockBom = await cdxgen("deno", project, `${state.tmp}/lock.cdx.json`);
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.lock`));
  return mergeBoms(imageBom, lockBom, {
    name: options.image.name,
    tag: options.image.tag!,
    digest: state.digest!,
    denoVersion: await denoVersionOf(state.pinned!),
  }, appPackages(lock));
}

/** `deno task release`'s entry: exit 0 released and verified, 1 a step failed, 2 usage. */
export async function main(args: string[]): Promise<number> {
  const options = parseReleaseArgs(args);
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  const report = await release(options);
  if (options.json) await writeReport(options.json, report);
  if (!report.ok) {
    const failed = report.steps.find((s) => s.status === "fail");
    console.error(`${TOOL}: failed at step ${failed?.id}: ${failed?.detail}`);
    return 1;
  }
  progress(TOOL, `released and verified in ${formatMs(report.totalMs ?? 0)}`);
  console.log(report.reference);
  return 0;
}

if (import.meta.main) runTask(TOOL, main);
