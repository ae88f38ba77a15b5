/**
 * What every release step shares: the command line after parsing, the report, the run's
 * facts, and the one step type ({@linkcode ReleaseStep}: the kernel's `Step` with a `when`).
 * The steps live in tasks/release.ts (image and signature), tasks/release/trust.ts (source,
 * bases, attaching and verifying) and each attestation's module (tasks/release/attestations/).
 *
 * @module
 */
import { docker, type ReportHead, type Step, type StepResult } from "../_lib/mod.ts";
import type { SigningOptions, Statement } from "./cosign.ts";
import type { ImageRef } from "./image_ref.ts";
import type { BaseImage, GitSource } from "./attestations/provenance.ts";
import type { Bom } from "./attestations/sbom.ts";

/** The command line after parsing. */
export interface ReleaseOptions {
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
  /** `--policy FILE`: the deploy policy the predicates and the verification are held to. */
  policy?: string;
  /** `--scan FILE`: a vulnerability scan in cosign's vuln format (Trivy `--format cosign-vuln`). */
  scan?: string;
  /** `--save DIR`: `cosign save` the image with its signature and attestations. */
  save?: string;
  /** `--json`: where to write the report. */
  json?: string;
  /** `--sbom`: where to keep the SBOM. */
  sbom?: string;
  /**
   * `--source DIR` (with `--verify-only --policy`): the consumer's clone, in which the attested
   * commit must be reachable from the policy's `provenance.sourceRefs`.
   */
  source?: string;
  /** `--rebuild`: rebuild the image from its verified provenance (a kind of `--verify-only`). */
  rebuild?: boolean;
  /** `--rebuild --attest --key REBUILDER.key`: the rebuilder's key the rebuild is attested with. */
  rebuildKey?: string;
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
  /** Each attestation: its name, cosign type, predicate type, and whether it verified. */
  attestations: AttestationStatus[];
  /** The policy the verification applied (`--policy`), or null. */
  policy: string | null;
  /** Where `--save` wrote the image, or null. */
  saved: string | null;
  /** Every step, in order. */
  steps: StepResult[];
}

/** What the steps share as the run goes. */
export interface ReleaseRun {
  /** The command line. */
  options: ReleaseOptions;
  /** The report under construction (steps fill in digest, SBOM, verification). */
  report: ReleaseReport;
  /** A temporary folder for the run's files, removed at the end (and on Ctrl-C). */
  tmp: string;
  /** The registry's manifest digest, once known. */
  digest?: string;
  /** `REGISTRY/REPO@DIGEST`, once the digest is known. */
  pinned?: string;
  /** The public key to verify with. */
  publicKey?: string;
  /** The SBOM, once generated (its serial number is checked after attesting). */
  bom?: Bom;
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
  /** What `--rebuild` built: the commit and the manifest digest obtained. */
  rebuilt?: { commit: string; digest: string };
  /** Predicate files by attestation name. */
  predicates: Record<string, string>;
  /** The statements cosign verified on the digest, by attestation name. */
  attested?: Record<string, Statement[]>;
}

/** A release step: the kernel's `Step`; `when` decides from the command line whether a run takes it. */
export interface ReleaseStep extends Step<ReleaseRun> {
  /** True when this run includes the step (default: always). */
  when?: (options: ReleaseOptions) => boolean;
}

/**
 * The fix a consumer's re-check names when an attestation does not describe the image it
 * pulled (rules `verify-recheck`, `permissions-recheck`).
 */
export const RECHECK_FIX: string =
  "the attestation does not describe this image: do not deploy it, " +
  "release it again (deno task release attests what it observes on the image)";

/** A `when`: every run but `--verify-only`. */
export const publishing = (o: ReleaseOptions): boolean => !o.verifyOnly;

/** The signing options, with the public key the run settled on (the `key` step may derive it). */
export function signingOf(r: ReleaseRun): SigningOptions {
  return { ...r.options.signing, publicKey: r.publicKey };
}

/** Writes an attestation's predicate into the run's folder and records its file by `name`. */
export async function writePredicate(
  r: ReleaseRun,
  name: string,
  predicate: unknown,
): Promise<string> {
  const path = `${r.tmp}/${name}.json`;
  await Deno.writeTextFile(path, JSON.stringify(predicate, null, 2) + "\n");
  r.predicates[name] = path;
  return path;
}

/** A name under the image's repository (and so under a test's prefix) for a helper container. */
export function verifyName(options: ReleaseOptions): string {
  return options.image.name.slice(options.image.registry.length + 1).toLowerCase();
}

/** Deno's version inside the image: the app answers `--version` with `swft X (deno Y)`. */
export async function denoVersionOf(r: ReleaseRun): Promise<string> {
  if (r.denoVersion) return r.denoVersion;
  const result = await docker(["run", "--rm", "--network", "none", r.pinned!, "--version"]);
  const version = /\(deno ([\w.+-]+)\)/.exec(result.stdout)?.[1];
  if (!version) {
    throw new Error(`Cannot read Deno's version: ${r.pinned} --version did not name it`);
  }
  return r.denoVersion = version;
}
