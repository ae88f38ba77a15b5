/**
 * `deno task release`: build, push, SBOM, sign, attest and verify one image, by the digest
 * the registry assigned (never a local image ID, never the tag, which can move).
 *
 * Steps, in order ({@linkcode RELEASE_STEPS}); the first that fails ends the run with exit 1
 * and its name, and the steps after it are reported as skipped:
 *
 * `key` (the private key opens), `source` (git commit; a dirty tree only with
 * `--allow-dirty`), `build` (or `tag` for `--from`, `pull` for `TAG@DIGEST`), `push` (the
 * registry's digest), `bases` (DENO_IMAGE / RUNTIME_IMAGE by digest), `verify` (verify's proof
 * for this very image), `permissions` (Deno's flags, read from the image), `sbom`,
 * `provenance` (SLSA v1), `scan` (with `--scan`): one step per attestation of the registry
 * (tasks/release/attestations/); `policy` (with `--policy`: the predicates held to it before
 * anything is signed), `sign`, `attest` (every attestation), `verify-signature`,
 * `verify-attestations` (under `--policy`: the failing rule named), `recheck` (`--verify-only`
 * only: verify's image checks and the permissions derived again from the image pulled by
 * digest), `save` (with `--save DIR`: what `cosign load` takes).
 *
 * On success it prints `REGISTRY/REPO@sha256:...` on stdout: the reference deployments use.
 * `--verify-only` runs the verification steps and the re-check on a published image, as a
 * consumer would.
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
  CleanupStack,
  docker,
  dockerBuildArgs,
  finishReport,
  formatMs,
  lastLines,
  parseFlags,
  pass,
  progress,
  pullFailed,
  readDenoJson,
  ROOT,
  runOk,
  runSteps,
  runTask,
  standinCommand,
  standinHint,
  startReport,
  stepProgress,
  tempDir,
  UsageError,
  usesBuildKit,
  writeReport,
} from "./_lib/mod.ts";
import { buildAndLoad } from "./_lib/reproducible.ts";
import { ATTESTATIONS } from "./release/attestations/mod.ts";
import { cosign, cosignFailure, signArgs, verifiedDigests, verifyArgs } from "./release/cosign.ts";
import {
  type ImageRef,
  isLoopbackRegistry,
  parseImageRef,
  pushedDigest,
} from "./release/image_ref.ts";
import { readPolicyFile } from "./release/policy.ts";
import { rebuildStep } from "./release/rebuild.ts";
import { rebuildAttestStep, verifyRebuildsStep } from "./release/attestations/rebuild.ts";
import { policyStep } from "./release/policy_check.ts";
import { recheckStep } from "./release/recheck.ts";
import {
  publishing,
  type ReleaseOptions,
  type ReleaseReport,
  type ReleaseRun,
  type ReleaseStep,
  signingOf,
} from "./release/run.ts";
import {
  attestationStatuses,
  attestStep,
  basesStep,
  saveStep,
  sourceStep,
  verifyAttestationsStep,
} from "./release/trust.ts";

export type { ReleaseOptions, ReleaseReport, ReleaseRun, ReleaseStep } from "./release/run.ts";

const TOOL = "release";

/** The command line, as `--help` prints it. */
export const HELP = `Usage: deno task release --image REGISTRY/REPO:TAG [options]

Builds (or takes) an image, pushes it, proves it with verify, signs the registry's digest
with cosign and attests its SBOM, SLSA provenance, verify's proof and Deno permissions, then
verifies all of them; prints REGISTRY/REPO@sha256:...

Options:
  --image REF                  where to push: REGISTRY/REPO:TAG (required); with @sha256:...
                               appended, an image pushed before (e.g. by buildx): pulled,
                               not built or pushed
  --target NAME                Dockerfile stage to build (default runtime)
  --build-arg K=V              build argument, repeatable (overrides VERSION/REVISION/CREATED);
                               with --from or TAG@DIGEST: how the image was built (recorded,
                               and the base images resolved from it)
  --from IMAGE                 release this local image instead of building
  --allow-dirty                release from a work tree with uncommitted changes (recorded
                               in the provenance; the default policy refuses it)
  --scan FILE                  attest a vulnerability scan (trivy --format cosign-vuln) as
                               vuln; fixable CRITICAL/HIGH findings (the --policy's
                               vuln.failOn) refuse the release
  --policy FILE                verify under this deploy policy (deploy/policy/swft.cue)
  --save DIR                   cosign save the image, signature and attestations into DIR
  --key FILE                   cosign private key (password in COSIGN_PASSWORD);
                               without it: keyless signing (CI OIDC)
  --pub FILE                   public key to verify with (default: derived from --key)
  --certificate-identity ID    keyless: the signer identity verification requires
  --certificate-oidc-issuer U  keyless: the OIDC issuer verification requires
  --no-tlog                    no transparency log: sign with --tlog-upload=false and verify
                               with --insecure-ignore-tlog (offline or private setups)
  --json FILE                  write the JSON report
  --sbom FILE                  keep the SBOM (CycloneDX JSON)
  --verify-only                only verify a published image (--key is then the public key),
                               with --policy as a consumer's deploy check; pulls the image by
                               digest and re-runs verify's image checks and reads its
                               permissions again: a claim the image contradicts is refused
  --source DIR                 with --verify-only --policy: your clone of the source; the
                               attested commit must be on one of the policy's
                               provenance.sourceRefs in it (git fetch first); with
                               --rebuild: the clone to check the commit out of (default .)
  --rebuild                    rebuild REF@sha256:... from its verified provenance alone;
                               prints "reproduced REF" only when the digest is the same
  --attest --key REBUILDER.key with --rebuild: sign a rebuild attestation onto the image
                               (urn:swft:attestation:rebuild:v1) once reproduced
  -h, --help                   this help

Environment: COSIGN_PASSWORD, COSIGN (cosign binary), CDXGEN (cdxgen binary),
SOURCE_DATE_EPOCH (the created time; default: the commit's).
`;

type ReleaseFlags = ReturnType<typeof parseReleaseFlags>["values"];

/** The flags of `deno task release`, typed by the kernel's parseFlags. */
function parseReleaseFlags(args: string[]) {
  return parseFlags(args, {
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
    "allow-dirty": { type: "boolean", default: false },
    "verify-report": { type: "string" },
    policy: { type: "string" },
    scan: { type: "string" },
    save: { type: "string" },
    source: { type: "string" },
    rebuild: { type: "boolean", default: false },
    attest: { type: "boolean", default: false },
  });
}

/**
 * `--rebuild --key PUB --attest --key REBUILDER.key`: the second --key is the rebuilder's; the
 * arguments without it, and that key.
 */
function splitRebuilderKey(args: string[]): { args: string[]; rebuildKey?: string } {
  const keys = args.flatMap((a, i) => a === "--key" ? [i] : []);
  if (!args.includes("--attest") || keys.length !== 2) return { args };
  const rebuildKey = args[keys[1] + 1];
  if (rebuildKey === undefined) return { args };
  return { args: args.filter((_, i) => i !== keys[1] && i !== keys[1] + 1), rebuildKey };
}

function parseImageFlag(text: string | undefined): ImageRef {
  if (!text) throw new UsageError("--image REGISTRY/REPO:TAG is required");
  try {
    return parseImageRef(text);
  } catch (error) {
    throw new UsageError(`--image: ${(error as Error).message}`);
  }
}

/** The mode the flags ask for (release, --verify-only, --rebuild), checked against --image. */
function checkMode(values: ReleaseFlags, image: ImageRef, rebuildKey?: string): boolean {
  const rebuild = values.rebuild;
  if (rebuild && !image.digest) {
    throw new UsageError("--rebuild needs --image REF@sha256:... (the digest to reproduce)");
  }
  if (values.attest && (!rebuild || !rebuildKey)) {
    throw new UsageError(
      "--attest signs a rebuild: --rebuild --image REF@sha256:... --key PUB --attest --key REBUILDER.key",
    );
  }
  if (rebuildKey && !isReadable(rebuildKey)) {
    throw new UsageError(`--attest --key: cannot read ${rebuildKey}`);
  }
  // A rebuild publishes nothing: it verifies, then builds apart (tasks/release/rebuild.ts).
  const verifyOnly = values["verify-only"] || rebuild;
  if (!verifyOnly && !image.tag) {
    throw new UsageError("--image must name a tag to push, e.g. REGISTRY/REPO:1.0.0");
  }
  if (!verifyOnly && image.digest && values.from) {
    throw new UsageError("--image TAG@DIGEST is already pushed: --from does not apply");
  }
  if (verifyOnly && !image.tag && !image.digest) {
    throw new UsageError("--image must name a tag or a digest to verify");
  }
  return verifyOnly;
}

/** Build arguments are KEY=VALUE; a consumer's check takes none of the publishing flags. */
function checkBuildAndPublishFlags(values: ReleaseFlags, verifyOnly: boolean): void {
  for (const arg of values["build-arg"]) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) {
      throw new UsageError(`--build-arg must be KEY=VALUE, got "${arg}"`);
    }
  }
  if (!verifyOnly) return;
  const given = ["from", "scan", "allow-dirty", "sbom"].filter((f) =>
    values[f as keyof typeof values] !== undefined && values[f as keyof typeof values] !== false
  );
  if (given.length > 0) {
    throw new UsageError(`--verify-only publishes nothing: --${given[0]} does not apply`);
  }
}

/** --policy and --scan must be readable, and the policy a CUE file the release can read. */
function checkPolicyAndScan(values: ReleaseFlags): void {
  for (
    const [flag, path] of [
      ["--policy", values.policy],
      ["--scan", values.scan],
    ] as const
  ) {
    if (path && !isReadable(path)) throw new UsageError(`${flag}: cannot read ${path}`);
  }
  if (!values.policy) return;
  if (!values.policy.endsWith(".cue")) {
    throw new UsageError("--policy must be a CUE file (.cue), e.g. deploy/policy/swft.cue");
  }
  try {
    readPolicyFile(values.policy);
  } catch (error) {
    throw new UsageError(`--policy: ${(error as Error).message}`);
  }
}

/** A key pair, or keyless with the identity verification requires. */
function checkSigningFlags(values: ReleaseFlags): void {
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
}

/** Parses and checks the command line; throws a {@linkcode UsageError}. */
export function parseReleaseArgs(args: string[]): ReleaseOptions | "help" {
  const split = splitRebuilderKey(args);
  const { values } = parseReleaseFlags(split.args);
  if (values.help) return "help";
  if (values["verify-report"] !== undefined) {
    throw new UsageError(
      "--verify-report was removed: a report from a file can claim anything, so verify's proof " +
        "is what the release observes on the pushed image in this run; drop the flag",
    );
  }
  const image = parseImageFlag(values.image);
  const verifyOnly = checkMode(values, image, split.rebuildKey);
  checkBuildAndPublishFlags(values, verifyOnly);
  checkPolicyAndScan(values);
  if (values.source !== undefined) {
    checkSourceFlag(values.source, verifyOnly, values.rebuild ? "rebuild" : values.policy);
  }
  checkSigningFlags(values);
  return {
    image,
    imageText: values.image!,
    target: values.target,
    buildArgs: values["build-arg"],
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
    allowDirty: values["allow-dirty"],
    policy: values.policy,
    scan: values.scan,
    save: values.save,
    source: values.source,
    rebuild: values.rebuild,
    rebuildKey: split.rebuildKey,
  };
}

/** `--source DIR` is the consumer's: with --verify-only and --policy (or --rebuild), a git clone. */
function checkSourceFlag(dir: string, verifyOnly: boolean, policy: string | undefined): void {
  if (!verifyOnly || !policy) {
    throw new UsageError(
      "--source DIR checks a published image's commit: use it with --verify-only --policy or --rebuild",
    );
  }
  try {
    if (Deno.statSync(`${dir}/.git`)) return;
  } catch {
    // refused below
  }
  throw new UsageError(`--source: ${dir} is not a git clone (git clone the source there)`);
}

function isReadable(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The image's created time (its label and `CREATED`): `SOURCE_DATE_EPOCH` when set, else the
 * commit's time, never the build's (docs/image.md, "Reproducible").
 */
async function sourceDateEpoch(commit: string): Promise<string> {
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  if (!epoch) return await runOk("git", ["show", "-s", "--format=%ct", commit], { cwd: ROOT });
  if (/^\d+$/.test(epoch)) return epoch;
  throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got "${epoch}"`);
}

/** Records the digest everything after the push (or pull) signs and verifies. */
function pinDigest(r: ReleaseRun, digest: string): string {
  r.digest = digest;
  r.pinned = `${r.options.image.name}@${digest}`;
  r.report.digest = digest;
  return r.pinned;
}

const building = (o: ReleaseOptions) => !o.verifyOnly && !o.image.digest;

/**
 * First, before anything is pushed: a wrong password or a broken key fails here. The public
 * half is derived for the verification, so it cannot be a stale file.
 */
const keyStep: ReleaseStep = {
  id: "key",
  when: (o) => publishing(o) && o.signing.key !== undefined,
  async run(r) {
    const key = r.options.signing.key!;
    const derived = `${r.tmp}/cosign.pub`;
    const pub = await cosign(["public-key", "--key", key, "--outfile", derived]);
    if (pub.code !== 0) {
      throw new Error(`cosign public-key --key ${key}: ${cosignFailure(pub)}`);
    }
    r.publicKey ??= derived;
    return pass(
      `${key} opened, verifying with ${r.publicKey === derived ? "its public key" : r.publicKey}`,
    );
  },
};

/** Pushed already (a multi-platform build by buildx): fetch it for the SBOM's image scan. */
const pullStep: ReleaseStep = {
  id: "pull",
  when: (o) => publishing(o) && o.image.digest !== undefined,
  async run(r) {
    const result = await docker(["pull", r.pinned!]);
    if (result.code !== 0) {
      throw new Error(`docker pull ${r.pinned}: ${lastLines(result.stderr, 2)}`);
    }
    pinDigest(r, r.digest!);
    return pass(`${r.pinned} (pushed before)`);
  },
};

/** `--from IMAGE`: an image built before, tagged as `--image`. */
const tagStep: ReleaseStep = {
  id: "tag",
  when: (o) => building(o) && o.from !== undefined,
  async run({ options }) {
    const result = await docker(["tag", options.from!, options.imageText]);
    if (result.code !== 0) throw new Error(lastLines(result.stderr, 2));
    return pass(`${options.from} as ${options.imageText}`);
  },
};

/** `docker build` of `--target` with the OCI labels filled; `--build-arg` values win. */
const buildStep: ReleaseStep = {
  id: "build",
  when: (o) => building(o) && o.from === undefined,
  async run(r) {
    const { options } = r;
    const startedOn = new Date().toISOString();
    const version = readDenoJson().version ?? "dev";
    // The commit the source step read (it runs first, and fails outside a git work tree).
    const epoch = await sourceDateEpoch(r.source!.commit);
    const buildArgs = [
      `VERSION=${version}`,
      `REVISION=${r.source!.commit}`,
      // The commit's time, not the build's: labels carry no build time.
      `CREATED=${new Date(Number(epoch) * 1000).toISOString()}`,
      // Given last, so the caller's values win.
      ...options.buildArgs,
      // Recorded in the provenance: a rebuild needs it (tasks/release/rebuild.ts).
      `SOURCE_DATE_EPOCH=${epoch}`,
    ];
    const build = { target: options.target, tag: options.imageText, buildArgs };
    const onLine = (line: string) => {
      if (/^(Step \d+\/\d+ : FROM |#\d+ \[[^\]]+\] FROM )/.test(line)) {
        progress(TOOL, `build: ${line}`);
      }
    };
    const result = await usesBuildKit()
      // Reproducible: no cache, the context's times set to the epoch (docs/image.md).
      ? await buildAndLoad({ ...build, root: ROOT, file: `${ROOT}/Dockerfile` }, epoch, r.tmp, {
        onLine,
      })
      : await docker(dockerBuildArgs({ ...build, context: ROOT, buildKit: false }), { onLine });
    if (result.code !== 0) {
      const output = result.stdout + result.stderr;
      // As verify says it: where no registry is reachable, the stand-in bases.
      const hint = pullFailed(output)
        ? `; ${
          standinHint(
            standinCommand(`deno task release --image ${options.imageText} --target runtime-deno`),
            "docs/release.md",
          )
        }`
        : "";
      throw new Error(`docker build --target ${options.target}: ${lastLines(output, 2)}${hint}`);
    }
    r.built = { startedOn, finishedOn: new Date().toISOString(), buildArgs };
    return pass(`${options.imageText} (target ${options.target}, version ${version})`);
  },
};

/** `docker push`; the digest is the one the registry answers with, never a local image id. */
const pushStep: ReleaseStep = {
  id: "push",
  when: building,
  async run(r) {
    const image = r.options.imageText;
    const result = await docker(["push", image]);
    if (result.code !== 0) {
      throw new Error(`docker push ${image}: ${lastLines(result.stderr || result.stdout, 2)}`);
    }
    const digest = pushedDigest(result.stdout, r.options.image.tag!);
    if (!digest) throw new Error(`docker push printed no digest for ${image}`);
    return pass(pinDigest(r, digest));
  },
};

/** `cosign sign` of `REPO@DIGEST`: the signature follows the digest, not the tag. */
const signStep: ReleaseStep = {
  id: "sign",
  when: publishing,
  async run(r) {
    const result = await cosign(signArgs(r.pinned!, signingOf(r)));
    if (result.code !== 0) throw new Error(`cosign sign: ${cosignFailure(result)}`);
    const key = r.options.signing.key;
    return pass(`${r.pinned} (${key ? `key ${key}` : "keyless"})`);
  },
};

/** `cosign verify`: it must vouch for this digest (with `--verify-only`, it finds it). */
const verifySignatureStep: ReleaseStep = {
  id: "verify-signature",
  async run(r) {
    const ref = r.pinned ?? r.options.imageText;
    const result = await cosign(verifyArgs(ref, signingOf(r)));
    if (result.code !== 0) throw new Error(`cosign verify ${ref}: ${cosignFailure(result)}`);
    const digests = verifiedDigests(result.stdout);
    const digest = r.digest ?? digests[0];
    if (!digest || !digests.includes(digest)) {
      throw new Error(
        `cosign verify vouched for ${digests.join(", ") || "nothing"}, not ${digest}`,
      );
    }
    pinDigest(r, digest);
    r.report.signature.verified = true;
    return pass(`signature on ${digest}`);
  },
};

/**
 * Every release step in order; each one's `when` picks those of a run. Adding a step is one
 * entry here.
 */
export const RELEASE_STEPS: readonly ReleaseStep[] = [
  keyStep,
  sourceStep,
  pullStep,
  tagStep,
  buildStep,
  pushStep,
  basesStep,
  // Each attestation's step, in the registry's order: its predicate, before anything is signed.
  ...ATTESTATIONS.map((a) => a.step),
  policyStep,
  signStep,
  attestStep,
  verifySignatureStep,
  verifyAttestationsStep,
  verifyRebuildsStep,
  recheckStep,
  rebuildStep,
  rebuildAttestStep,
  saveStep,
];

/**
 * The steps a run with `options` takes, in order.
 *
 * @example
 * ```ts
 * releaseSteps(parseReleaseArgs(["--verify-only", "--image", "r/x:1", "--key", "k.pub"]))
 *   .map((s) => s.id); // ["verify-signature", "verify-attestations", "recheck"]
 * ```
 */
export function releaseSteps(options: ReleaseOptions): ReleaseStep[] {
  return RELEASE_STEPS.filter((step) => step.when?.(options) ?? true);
}

function newReport(options: ReleaseOptions): ReleaseReport {
  return {
    ...startReport("swft-release"),
    image: options.imageText,
    reference: null,
    digest: null,
    sbom: null,
    signature: {
      verified: false,
      mode: options.signing.key || options.signing.publicKey ? "key" : "keyless",
    },
    attestations: attestationStatuses(options),
    policy: options.policy ?? null,
    saved: null,
    steps: [],
  };
}

/**
 * Runs a release (or `--verify-only`) and returns its report; never throws for a failed
 * step (the report says which).
 */
export async function release(options: ReleaseOptions): Promise<ReleaseReport> {
  const report = newReport(options);
  await using cleanup = new CleanupStack();
  const tmp = await tempDir(cleanup, "swft-release-");
  // --image TAG@DIGEST is pinned from the start; the report's digest waits for a step to hold.
  const { name, digest } = options.image;
  const r: ReleaseRun = {
    options,
    report,
    tmp,
    publicKey: options.signing.publicKey,
    digest,
    pinned: digest && `${name}@${digest}`,
    predicates: {},
  };
  const shown = stepProgress(TOOL);
  await runSteps(releaseSteps(options), r, {
    stopAfterFailure: true,
    onStart: shown.onStart,
    onEnd: (result) => {
      report.steps.push(result);
      shown.onEnd(result);
    },
  });
  const ok = report.steps.every((step) => step.status === "pass");
  if (ok) report.reference = r.pinned ?? null;
  if (ok && options.save) report.saved = options.save;
  return finishReport(report, ok);
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
  if (options.rebuild) {
    console.log(`reproduced ${report.reference}`);
    return 0;
  }
  progress(
    TOOL,
    `${options.verifyOnly ? "verified" : "released and verified"}${
      options.policy ? ` under ${options.policy}` : ""
    } in ${formatMs(report.totalMs ?? 0)}`,
  );
  console.log(report.reference);
  return 0;
}

if (import.meta.main) runTask(TOOL, main);
