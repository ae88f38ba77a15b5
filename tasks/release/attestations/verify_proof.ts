/**
 * verify's proof as an attestation: verify's JSON report, plus which image it tested and in
 * which mode, and the rules by which the release refuses to attest a report: it must be about
 * THIS image (the tested image id is the pushed manifest's digest or its config digest) and every check
 * must have passed, except the build checks of a run on an existing image, which did not run
 * (the policy decides whether it accepts that: `verify.acceptBuildChecksNotRun`).
 *
 * @module
 */
import { NOT_RUN_ON_EXISTING_IMAGE } from "../../verify/checks_build.ts";
import type { Report as VerifyReport } from "../../verify/report.ts";
import type { VerifyProof } from "../predicates.ts";

/** Reads a verify report (`--verify-report FILE`); throws one line when it is not one. */
export function parseVerifyReport(text: string, path: string): VerifyReport {
  let report: VerifyReport;
  try {
    report = JSON.parse(text);
  } catch {
    throw new Error(`Cannot read ${path}: not JSON`);
  }
  if (report?.tool !== "swft-verify" || !Array.isArray(report.checks)) {
    throw new Error(`Cannot read ${path}: not a deno task verify report (--json)`);
  }
  return report;
}

/** The pushed image as the engines name it: its manifest digest and its config digest. */
export interface PushedImage {
  /** The registry's digest of the manifest (or index). */
  manifest: string;
  /** The manifest's config digest. */
  config: string;
}

/**
 * Whether the image id an engine reported is the pushed image's: the legacy image store names
 * an image by its config digest, the containerd store (BuildKit's engines) by its manifest or
 * index digest, which a push keeps.
 */
export function isPushedImage(id: string | undefined, pushed: PushedImage): boolean {
  return id !== undefined && (id === pushed.config || id === pushed.manifest);
}

/**
 * Why the release must not attest `report` for the `pushed` image, or `undefined` when it may.
 *
 * @example
 * ```ts
 * proofRefusal(report, { manifest: "sha256:12...", config: "sha256:ab..." });
 * // "verify tested sha256:cd..., not the pushed image (config sha256:ab...)"
 * ```
 */
export function proofRefusal(report: VerifyReport, pushed: PushedImage): string | undefined {
  const tested = report.images?.runtime?.id;
  if (!tested) return "the verify report names no tested image id (images.runtime.id)";
  if (!isPushedImage(tested, pushed)) {
    return `verify tested ${tested}, not the pushed image (config ${pushed.config})`;
  }
  const existing = isExistingImageRun(report);
  const failed = report.checks.filter((c) =>
    c.status !== "pass" &&
    !(existing && c.status === "skip" && NOT_RUN_ON_EXISTING_IMAGE.includes(c.id))
  );
  if (failed.length > 0) {
    return `verify did not pass: ${
      failed.map((c) => `${c.id} ${c.status}${c.detail ? ` (${c.detail})` : ""}`).join("; ")
    }`;
  }
  return undefined;
}

function isExistingImageRun(report: VerifyReport): boolean {
  return Boolean((report.options as { from?: string } | undefined)?.from);
}

/** The predicate: the report with the verifier, the mode and the tested image. */
export function verifyProof(report: VerifyReport, version: string): VerifyProof {
  return {
    ...report,
    verifier: { name: "swft-verify", version },
    mode: isExistingImageRun(report) ? "existing-image" : "build",
    testedImage: { id: report.images.runtime.id ?? "", ref: report.images.runtime.ref },
  };
}
