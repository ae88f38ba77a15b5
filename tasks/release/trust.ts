/**
 * The release's trust steps: what it records about the source and the build, the proof that
 * verify passed on THIS image, the permissions the image's process runs with, the attestations
 * that carry them, and their verification (under the deploy policy with `--policy`). Each is an
 * entry of tasks/release.ts's step list; they share {@linkcode TrustRun}.
 *
 * @module
 */
import {
  docker,
  dockerJson,
  engineVersion,
  imageId,
  inspectImage,
  pass,
  readDenoJson,
  ROOT,
  runOk,
  type Step,
  taskCommand,
} from "../_lib/mod.ts";
import { permissionFlags } from "../build.ts";
import { parseVerifyArgs, verify } from "../verify/mod.ts";
import type { Report as VerifyReport } from "../verify/report.ts";
import {
  attestArgs,
  attestedStatements,
  cosign,
  cosignFailure,
  saveArgs,
  type SigningOptions,
  verifyAttestationArgs,
} from "./cosign.ts";
import type { ImageRef } from "./image_ref.ts";
import { binaryFlags, entrypointFlags, permissionsPredicate } from "./attestations/permissions.ts";
import { policyRefusal, readPolicyFile } from "./policy.ts";
import {
  type AttestationKind,
  ATTESTATIONS,
  type PermissionsPredicate,
  type VerifyProof,
  VULN_ATTESTATION,
} from "./predicates.ts";
import {
  type BaseImage,
  baseImageRefs,
  buildProvenance,
  fileSha256,
  type GitSource,
  gitSource,
  resolveBaseImage,
} from "./attestations/provenance.ts";
import { configDigest } from "./registry.ts";
import type { Bom } from "./attestations/sbom.ts";
import {
  isPushedImage,
  parseVerifyReport,
  proofRefusal,
  verifyProof,
} from "./attestations/verify_proof.ts";

/** The command-line options the trust steps read. */
export interface TrustOptions {
  /** `--image`, parsed. */
  image: ImageRef;
  /** `--image` as given. */
  imageText: string;
  /** `--target`: the stage built (or that the image was built from). */
  target: string;
  /** `--build-arg`: given to the build, or how the image was built (recorded). */
  buildArgs: string[];
  /** `--from`: a local image to release instead of building. */
  from?: string;
  /** How to sign and verify. */
  signing: SigningOptions;
  /** `--verify-only`. */
  verifyOnly: boolean;
  /** `--allow-dirty`: release from a work tree with uncommitted changes (recorded). */
  allowDirty: boolean;
  /** `--verify-report FILE`: a verify report of an earlier run, instead of running verify. */
  verifyReport?: string;
  /** `--policy FILE`: the deploy policy the verification applies. */
  policy?: string;
  /** `--scan FILE`: a vulnerability scan in cosign's vuln format (Trivy `--format cosign-vuln`). */
  scan?: string;
  /** `--save DIR`: `cosign save` the image with its signature and attestations. */
  save?: string;
}

/** One attestation in the report. */
export interface AttestationStatus {
  /** `sbom`, `provenance`, `verify-proof`, `permissions`, `vuln`. */
  name: string;
  /** What `cosign verify-attestation --type` takes for it. */
  type: string;
  /** The in-toto predicate type. */
  predicateType: string;
  /** Verified on the digest (and, with `--policy`, under the policy). */
  verified: boolean;
}

/** What the trust steps share with the rest of the release. */
export interface TrustRun {
  /** The command line. */
  options: TrustOptions;
  /** The report's parts these steps fill. */
  report: { attestations: AttestationStatus[]; startedAt: string };
  /** The run's temporary folder. */
  tmp: string;
  /** The registry's manifest digest, once known. */
  digest?: string;
  /** `REGISTRY/REPO@DIGEST`, once known. */
  pinned?: string;
  /** The public key to verify with. */
  publicKey?: string;
  /** The SBOM, once generated (its serial number is checked after attesting). */
  bom?: Bom;
  /** The SBOM's file. */
  sbomPath?: string;
  /** When `build` ran, and the build arguments it passed (VERSION, REVISION, CREATED first). */
  built?: { startedOn: string; finishedOn: string; buildArgs: string[] };
  /** The work tree's git facts. */
  source?: GitSource;
  /** The base images, resolved. */
  bases?: BaseImage[];
  /** The pushed image's config digest (its image id). */
  configDigest?: string;
  /** Deno's version inside the image. */
  denoVersion?: string;
  /** Predicate files by attestation name. */
  predicates: Record<string, string>;
}

/** A trust step; `when` decides from the command line whether it is part of the run. */
export interface TrustStep extends Step<TrustRun> {
  /** True when this run includes the step (default: always). */
  when?: (options: TrustOptions) => boolean;
}

/** A `when`: every run but `--verify-only`. */
export const publishing = (o: TrustOptions): boolean => !o.verifyOnly;

/** The attestations a release attaches: the four, and the scan with `--scan`. */
export function attestationKinds(options: Pick<TrustOptions, "scan">): AttestationKind[] {
  return [...ATTESTATIONS, ...(options.scan ? [VULN_ATTESTATION] : [])];
}

/** The attestations a run verifies: the policy's required ones with `--policy`. */
export function verifiedKinds(options: TrustOptions): AttestationKind[] {
  if (!options.policy) return attestationKinds(options);
  const required = readPolicyFile(options.policy).attestations;
  return [
    ...required,
    ...(options.scan && !required.some((a) => a.name === VULN_ATTESTATION.name)
      ? [VULN_ATTESTATION]
      : []),
  ];
}

/** The report's attestations list for a run, none verified yet. */
export function attestationStatuses(options: TrustOptions): AttestationStatus[] {
  return verifiedKinds(options).map((k) => ({
    name: k.name,
    type: k.cosignType,
    predicateType: k.predicateType,
    verified: false,
  }));
}

/** The signing options, with the public key the run settled on (the `key` step may derive it). */
export function signingOf(r: TrustRun): SigningOptions {
  return { ...r.options.signing, publicKey: r.publicKey };
}

async function writePredicate(r: TrustRun, name: string, predicate: unknown): Promise<string> {
  const path = `${r.tmp}/${name}.json`;
  await Deno.writeTextFile(path, JSON.stringify(predicate, null, 2) + "\n");
  r.predicates[name] = path;
  return path;
}

/** A name under the image's repository (and so under a test's prefix) for verify's container. */
function verifyName(options: TrustOptions): string {
  return options.image.name.slice(options.image.registry.length + 1).toLowerCase();
}

/**
 * `source`: the git commit, the repository's root commit and whether the work tree is clean. A
 * dirty tree is refused unless `--allow-dirty`, and then recorded in the provenance, where the
 * policy refuses it unless its `acceptDirty` parameter says otherwise.
 */
export const sourceStep: TrustStep = {
  id: "source",
  when: publishing,
  async run(r) {
    const source = await gitSource(ROOT);
    r.source = source;
    if (source.dirty && !r.options.allowDirty) {
      // Name them: a stray file (a key, a report) is found at once.
      const status = await runOk("git", ["status", "--porcelain"], { cwd: ROOT });
      const paths = status.split("\n").map((line) => line.slice(3));
      const named = paths.slice(0, 3).join(", ") + (paths.length > 3 ? ", ..." : "");
      throw new Error(
        `Cannot release a dirty work tree: ${source.changedPaths} paths have uncommitted ` +
          `changes (${named}); commit them, or pass --allow-dirty (the provenance then says so)`,
      );
    }
    return pass(
      `${source.commit.slice(0, 12)} of ${source.repository}${
        source.dirty ? ` (dirty: ${source.changedPaths} paths, --allow-dirty)` : ""
      }`,
    );
  },
};

/**
 * `bases`: DENO_IMAGE and RUNTIME_IMAGE resolved to the digests used; the image's layers must
 * begin with RUNTIME_IMAGE's (else the recorded base would not be the one it was built on).
 */
export const basesStep: TrustStep = {
  id: "bases",
  when: publishing,
  async run(r) {
    const bases: BaseImage[] = [];
    for (const { name, ref } of baseImageRefs(r.options.buildArgs)) {
      // Pulled when absent (the layer check below needs it); a ref pinned by digest is
      // recorded as pinned even where it cannot be pulled.
      if (
        await imageId(ref) === undefined && (await docker(["pull", ref])).code !== 0 &&
        !/@sha256:/.test(ref)
      ) {
        throw new Error(`Cannot resolve ${name}=${ref}: not a local image, and docker pull failed`);
      }
      bases.push(await resolveBaseImage(name, ref));
    }
    const runtime = bases.find((b) => b.name === "RUNTIME_IMAGE")!;
    const base = await inspectImage(runtime.ref).catch(() => undefined);
    if (base) {
      const layers = base.RootFS?.Layers ?? [];
      const image = (await inspectImage(r.pinned!)).RootFS?.Layers ?? [];
      if (layers.length === 0 || layers.some((layer, i) => image[i] !== layer)) {
        throw new Error(
          `Cannot record RUNTIME_IMAGE=${runtime.ref}: the layers of ${r.pinned} do not begin with its layers`,
        );
      }
    }
    r.bases = bases;
    return pass(bases.map((b) => `${b.name}=${b.ref}@sha256:${b.sha256.slice(0, 12)}`).join(", "));
  },
};

/**
 * `verify`: verify's proof for the pushed image. Verify runs as a library on the image itself
 * (`--from`: the build checks are reported as not run), or `--verify-report FILE` gives an
 * earlier run's report. Either way the tested image must be the pushed one (its id is the
 * manifest's config digest) and every check must have passed, or nothing is attested.
 */
export const verifyStep: TrustStep = {
  id: "verify",
  when: publishing,
  async run(r) {
    const { options } = r;
    r.configDigest = await configDigest(r.pinned!, { loopback: options.signing.loopback });
    let report: VerifyReport;
    if (options.verifyReport) {
      report = parseVerifyReport(
        await Deno.readTextFile(options.verifyReport),
        options.verifyReport,
      );
    } else {
      // Built here: verify builds it again with the same arguments (every step from the
      // cache, so the very image pushed, as proofRefusal checks; the builder stage is verify's
      // default, the one the target ships from) and runs every check, the build checks too.
      // Pushed before or `--from`: verify checks that image as it is.
      const source = r.built
        ? r.built.buildArgs.flatMap((a) => ["--build-arg", a])
        : ["--from", r.pinned!, ...options.buildArgs.flatMap((a) => ["--build-arg", a])];
      const args = [
        ...source,
        "--image",
        verifyName(options),
        "--context",
        ROOT,
        "--target",
        options.target,
      ];
      const verifyOptions = parseVerifyArgs(args);
      if (verifyOptions === "help") throw new Error("unreachable");
      report = await verify(verifyOptions);
    }
    const refusal = proofRefusal(report, { manifest: r.digest!, config: r.configDigest });
    if (refusal) throw new Error(`Cannot attest verify's proof: ${refusal}`);
    const proof: VerifyProof = verifyProof(report, readDenoJson().version ?? "dev");
    await writePredicate(r, "verify-proof", proof);
    const passed = report.checks.filter((c) => c.status === "pass").length;
    return pass(
      `${passed}/${report.checks.length} checks passed on ${
        r.configDigest.slice(0, 19)
      } (${proof.mode}${options.verifyReport ? `, ${options.verifyReport}` : ""})`,
    );
  },
};

/** Deno's version inside the image: the app answers `--version` with `swft X (deno Y)`. */
export async function denoVersionOf(r: TrustRun): Promise<string> {
  if (r.denoVersion) return r.denoVersion;
  const result = await docker(["run", "--rm", "--network", "none", r.pinned!, "--version"]);
  const version = /\(deno ([\w.+-]+)\)/.exec(result.stdout)?.[1];
  if (!version) {
    throw new Error(`Cannot read Deno's version: ${r.pinned} --version did not name it`);
  }
  return r.denoVersion = version;
}

async function compiledFlags(r: TrustRun, binary: string): Promise<string[] | undefined> {
  const name = `${verifyName(r.options).replace(/[^a-z0-9_.-]/g, "-")}-permissions-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const created = await docker(["create", "--name", name, r.pinned!]);
  if (created.code !== 0) throw new Error(`docker create ${r.pinned}: ${created.stderr.trim()}`);
  try {
    const copy = await docker(["cp", `${name}:${binary}`, `${r.tmp}/binary`]);
    if (copy.code !== 0) return undefined;
    return binaryFlags(await Deno.readFile(`${r.tmp}/binary`));
  } finally {
    await docker(["rm", name]);
    await Deno.remove(`${r.tmp}/binary`).catch(() => {});
  }
}

/**
 * `permissions`: the `--allow-*` / `--deny-*` flags the image's process runs with, read from
 * the image: a `deno run` ENTRYPOINT's own flags, or a compiled binary's embedded metadata,
 * else the flags the build compiles with (deno.json's `start` task); a binary whose flags
 * differ from those was not built from this source, and is refused.
 */
export const permissionsStep: TrustStep = {
  id: "permissions",
  when: publishing,
  async run(r) {
    const info = await dockerJson<
      { Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }
    >(
      ["image", "inspect", "--format", "{{json .}}", r.pinned!],
    );
    const entrypoint = [...info.Config?.Entrypoint ?? [], ...info.Config?.Cmd ?? []];
    let flags: string[];
    let source: PermissionsPredicate["source"];
    if (/(^|\/)deno$/.test(entrypoint[0] ?? "")) {
      flags = entrypointFlags(entrypoint);
      source = "entrypoint";
    } else {
      const compiled = permissionFlags(taskCommand("start"));
      const embedded = entrypoint[0] ? await compiledFlags(r, entrypoint[0]) : undefined;
      if (embedded && [...embedded].sort().join(" ") !== [...compiled].sort().join(" ")) {
        throw new Error(
          `Cannot attest the permissions: ${entrypoint[0]} carries ${
            embedded.join(" ")
          }, not this source's ${compiled.join(" ")}`,
        );
      }
      flags = embedded ?? compiled;
      source = embedded ? "binary" : "compile-flags";
    }
    const predicate = permissionsPredicate(flags, {
      deno: await denoVersionOf(r),
      source,
      entrypoint,
    });
    await writePredicate(r, "permissions", predicate);
    return pass(`${flags.join(" ")} (from the ${source})`);
  },
};

/** The variables by which a GitHub-hosted run is recorded as such (the task may read these). */
const GITHUB_VARIABLES = [
  "GITHUB_ACTIONS",
  "RUNNER_ENVIRONMENT",
  "GITHUB_SERVER_URL",
  "GITHUB_REPOSITORY",
  "GITHUB_WORKFLOW_REF",
  "GITHUB_RUN_ID",
  "GITHUB_RUN_ATTEMPT",
];

/** `provenance`: the SLSA v1 predicate for this release (see release/attestations/provenance.ts). */
export const provenanceStep: TrustStep = {
  id: "provenance",
  when: publishing,
  async run(r) {
    const { options } = r;
    const provenance = buildProvenance({
      source: r.source!,
      dockerfile: "Dockerfile",
      target: options.target,
      buildArgs: options.buildArgs,
      bases: r.bases!,
      lockSha256: await fileSha256(`${ROOT}/deno.lock`),
      dockerVersion: await engineVersion() ?? "unknown",
      builtBy: options.image.digest ? "pushed" : options.from ? "from" : "release",
      version: readDenoJson().version ?? "dev",
      startedOn: r.built?.startedOn ?? r.report.startedAt,
      finishedOn: r.built?.finishedOn ?? new Date().toISOString(),
      env: Object.fromEntries(GITHUB_VARIABLES.map((name) => [name, Deno.env.get(name)])),
    });
    await writePredicate(r, "provenance", provenance);
    return pass(
      `${provenance.buildDefinition.buildType} by ${provenance.runDetails.builder.id}, ${provenance.buildDefinition.resolvedDependencies.length} dependencies`,
    );
  },
};

/** The severities `--scan` refuses a fixable finding at without `--policy`: Trivy's gate. */
export const DEFAULT_FAIL_ON: readonly string[] = ["CRITICAL", "HIGH"];

/**
 * `scan` (with `--scan FILE`): refuses fixable findings at the policy's `vuln.failOn`
 * severities ({@linkcode DEFAULT_FAIL_ON} without `--policy`), else keeps the file.
 */
export const scanStep: TrustStep = {
  id: "scan",
  when: (o) => publishing(o) && o.scan !== undefined,
  async run(r) {
    const path = r.options.scan!;
    let scan;
    try {
      scan = JSON.parse(await Deno.readTextFile(path));
    } catch {
      scan = undefined; // not JSON: refused below, as any other file that is not a scan
    }
    const results = scan?.scanner?.result?.Results;
    if (!Array.isArray(results)) {
      throw new Error(
        `Cannot read ${path}: not a cosign vuln predicate (trivy --format cosign-vuln)`,
      );
    }
    // The policy's severities where one is given (the deploy refuses at those), else the
    // reference pipeline's.
    const failOn = r.options.policy ? readPolicyFile(r.options.policy).vuln?.failOn : undefined;
    const severities = failOn ?? DEFAULT_FAIL_ON;
    const fixable = results.flatMap((x: { Vulnerabilities?: Record<string, string>[] }) =>
      x.Vulnerabilities ?? []
    ).filter((v: Record<string, string>) =>
      severities.includes(v.Severity) && Boolean(v.FixedVersion)
    );
    if (fixable.length > 0) {
      throw new Error(
        `Cannot attest the scan: fixable ${severities.join("/")} vulnerabilities: ${
          fixable.slice(0, 5).map((v: Record<string, string>) =>
            `${v.VulnerabilityID} (${v.PkgName})`
          ).join(", ")
        }`,
      );
    }
    r.predicates.vuln = path;
    return pass(`no fixable ${severities.join("/")} in ${path}`);
  },
};

/** `attest`: every attestation on the digest, one `cosign attest` each. */
export const attestStep: TrustStep = {
  id: "attest",
  when: publishing,
  async run(r) {
    r.predicates.sbom = r.sbomPath!;
    const kinds = attestationKinds(r.options);
    for (const kind of kinds) {
      const result = await cosign(
        attestArgs(r.pinned!, r.predicates[kind.name], signingOf(r), kind.cosignType),
      );
      if (result.code !== 0) {
        throw new Error(`cosign attest ${kind.name}: ${cosignFailure(result)}`);
      }
    }
    return pass(`${kinds.map((k) => k.name).join(", ")} attached`);
  },
};

/**
 * `verify-attestations`: each attestation verified on the digest with cosign (under the
 * policy with `--policy`: a refusal names its rule), the SBOM the one generated, and verify's
 * proof about this very image (the rule `verify-proof-image`, which the policy cannot check:
 * it sees the statement, not the image).
 */
export const verifyAttestationsStep: TrustStep = {
  id: "verify-attestations",
  async run(r) {
    const hex = r.digest!.slice("sha256:".length);
    const verified: string[] = [];
    for (const status of r.report.attestations) {
      const args = verifyAttestationArgs(r.pinned!, signingOf(r), {
        type: status.type,
        policy: r.options.policy,
      });
      const result = await cosign(args);
      if (result.code !== 0) {
        const output = result.stderr + result.stdout;
        // cosign finds no attestation of any type at all: as missing as a wrong type.
        const none = /no matching attestations:\s*$/m.test(output)
          ? `rule required-attestations: no ${status.type} attestation`
          : undefined;
        // A refusal names the file that holds the rule (the ceiling, the accepted sources...).
        const refusal = policyRefusal(output);
        const where = refusal && r.options.policy ? `; policy ${r.options.policy}` : "";
        throw new Error(
          refusal ? refusal + where : none ?? `${status.name}: ${cosignFailure(result)}`,
        );
      }
      const ours = attestedStatements(result.stdout).filter((s) =>
        s.predicateType === status.predicateType && s.subject.some((x) => x.digest.sha256 === hex)
      );
      if (ours.length === 0) {
        throw new Error(`Cannot verify the ${status.name} attestation: none is about ${r.digest}`);
      }
      if (status.name === "sbom" && r.bom?.serialNumber) {
        if (!ours.some((s) => (s.predicate as Bom)?.serialNumber === r.bom!.serialNumber)) {
          throw new Error(
            `Cannot verify the SBOM: the attested one is not the one generated (${r.bom.serialNumber})`,
          );
        }
      }
      if (status.name === "verify-proof") {
        r.configDigest ??= await configDigest(r.pinned!, { loopback: r.options.signing.loopback });
        const pushed = { manifest: r.digest!, config: r.configDigest };
        const stray = ours.find((s) =>
          !isPushedImage((s.predicate as VerifyProof)?.testedImage?.id, pushed)
        );
        if (stray) {
          throw new Error(
            `rule verify-proof-image: verify tested ${
              (stray.predicate as VerifyProof)?.testedImage?.id
            }, not this image (config ${r.configDigest})`,
          );
        }
      }
      status.verified = true;
      verified.push(status.name);
    }
    return pass(
      `${verified.join(", ")} on ${r.digest}${
        r.options.policy ? ` under ${r.options.policy}` : ""
      }`,
    );
  },
};

/** `save` (with `--save DIR`): the image, its signature and attestations, as `cosign load` takes. */
export const saveStep: TrustStep = {
  id: "save",
  when: (o) => o.save !== undefined,
  async run(r) {
    const result = await cosign(saveArgs(r.pinned!, r.options.save!, signingOf(r)));
    if (result.code !== 0) throw new Error(`cosign save: ${cosignFailure(result)}`);
    return pass(`${r.pinned} in ${r.options.save} (cosign load --dir ${r.options.save} REPO)`);
  },
};
