/**
 * verify's proof as an attestation: verify's JSON report, plus which image it tested and in
 * which mode, and the rules by which the release refuses to attest a report: it must be about
 * THIS image (the tested image id is the pushed manifest's digest or its config digest) and every check
 * must have passed, except the build checks of a run on an existing image, which did not run
 * (the policy decides whether it accepts that: `verify.acceptBuildChecksNotRun`). A consumer's
 * `--verify-only` runs verify's image checks again on the image it pulled (rule
 * `verify-recheck`): a proof that says more than the image holds is refused.
 *
 * @module
 */
import { pass, readDenoJson, ROOT } from "../../_lib/mod.ts";
import { NOT_RUN_ON_EXISTING_IMAGE } from "../../verify/checks_build.ts";
import { checkImage, parseVerifyArgs, verify } from "../../verify/mod.ts";
import type { Report as VerifyReport } from "../../verify/report.ts";
import { configDigest } from "../registry.ts";
import type { Statement } from "../cosign.ts";
import {
  publishing,
  RECHECK_FIX,
  type ReleaseRun,
  type ReleaseStep,
  verifyName,
  writePredicate,
} from "../run.ts";
import { cond, type ConditionBlock, jp, literal, noWildcard } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

/** verify's proof: its JSON report plus the tested image. */
export const VERIFY_PROOF_TYPE = "urn:swft:attestation:verify-proof:v1";

/** verify's proof: verify's report, which image it tested, by whom, in which mode. */
export type VerifyProof = VerifyReport & {
  /** The tool that made the report. */
  verifier: { name: "swft-verify"; version: string };
  /** `build`: verify built the image; `existing-image`: it checked one built before. */
  mode: "build" | "existing-image";
  /** The image verify tested: its id is its config digest. */
  testedImage: { id: string; ref: string };
};

/** The policy's parameters for verify's proof (`verify`). */
export interface VerifyProofPolicy {
  /** The check ids the proof must hold. */
  requiredChecks: string[];
  /** The build checks, which a run on an existing image does not run. */
  buildChecks: string[];
  /** Whether a proof of an existing image may report its build checks as not run. */
  acceptBuildChecksNotRun: boolean;
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

/**
 * `verify`: verify's proof for the pushed image, observed by this run: verify runs as a library
 * on the image itself (built here: verify builds it again from the cache; pushed before or
 * `--from`: checked as it is, the build checks reported as not run). No report from elsewhere
 * is taken: a file can say anything. The tested image must be the pushed one (its id is the
 * manifest's config digest) and every check must have passed, or nothing is attested.
 */
export const verifyStep: ReleaseStep = {
  id: "verify",
  when: publishing,
  async run(r) {
    const { options } = r;
    r.configDigest = await configDigest(r.pinned!, { loopback: options.signing.loopback });
    // verify checks the very image pushed (`--from` its digest): a second build of it, even a
    // reproducible one, is another image whenever the build is not (the release round's
    // flake). The build checks are then reported as not run (the policy's
    // verify.acceptBuildChecksNotRun); `--rebuild` and verify's `reproducible` prove the build.
    const buildArgs = r.built?.buildArgs ?? options.buildArgs;
    const verifyOptions = parseVerifyArgs([
      "--from",
      r.pinned!,
      ...buildArgs.flatMap((a) => ["--build-arg", a]),
      "--image",
      verifyName(options),
      "--context",
      ROOT,
      "--target",
      options.target,
    ]);
    if (verifyOptions === "help") throw new Error("unreachable");
    const report = await verify(verifyOptions);
    const refusal = proofRefusal(report, { manifest: r.digest!, config: r.configDigest });
    if (refusal) throw new Error(`Cannot attest verify's proof: ${refusal}`);
    const proof: VerifyProof = verifyProof(report, readDenoJson().version ?? "dev");
    await writePredicate(r, "verify-proof", proof);
    const passed = report.checks.filter((c) => c.status === "pass").length;
    return pass(
      `${passed}/${report.checks.length} checks passed on ${
        r.configDigest.slice(0, 19)
      } (${proof.mode})`,
    );
  },
};

/**
 * The rule `verify-recheck` (`--verify-only`): verify's image checks (`imageOnlyChecks`)
 * run again on the pulled image; one that does not pass there refuses, naming what the proof
 * said of it.
 */
async function recheckProof(r: ReleaseRun, statements: Statement[]): Promise<string> {
  const results = await checkImage(r.pinned!, { image: verifyName(r.options) }, {
    write: () => {},
  });
  const failed = results.filter((c) => c.status !== "pass").map((c) => {
    const said = statements.map((s) =>
      (s.predicate as VerifyProof)?.checks?.find((x) => x.id === c.id)?.status ?? "nothing"
    );
    return `${c.id} attested ${[...new Set(said)].join("/")}, ${
      c.status === "fail" ? "fails" : "is skipped"
    } on the image: ${c.detail}`;
  });
  if (failed.length > 0) {
    throw new Error(`rule verify-recheck: ${failed.join("; ")}; ${RECHECK_FIX}`);
  }
  return `${results.length} image checks pass on the image (${
    results.map((c) => c.id).join(", ")
  })`;
}

/** The Kyverno blocks for a check that did not pass, as `verify-checks-pass` reads them. */
function checksPass(v: VerifyProofPolicy): ConditionBlock[] {
  if (!v.acceptBuildChecksNotRun) {
    return [{
      all: [
        cond(
          jp("length(checks[?status != 'pass'])"),
          "Equals",
          0,
          "rule verify-checks-pass: a check did not pass",
        ),
      ],
    }];
  }
  return [
    {
      all: [
        cond(
          jp("length(checks[?status != 'pass' && status != 'skip'])"),
          "Equals",
          0,
          "rule verify-checks-pass: a check did not pass",
        ),
      ],
    },
    {
      all: [
        cond(
          jp(`length(checks[?status == 'skip' && !contains(${literal(v.buildChecks)}, id)])`),
          "Equals",
          0,
          "rule verify-checks-pass: a check was skipped that is not a build check",
        ),
      ],
    },
    {
      any: [
        cond(jp("length(checks[?status == 'skip'])"), "Equals", 0),
        cond(
          jp("mode"),
          "Equals",
          "existing-image",
          "rule verify-checks-pass: checks were skipped in a run that built the image",
        ),
      ],
    },
  ];
}

/**
 * verify's proof as an attestation; the policy's rules `verify-checks-pass` and
 * `verify-required-checks`, and the release's own `verify-proof-image`.
 */
export const verifyProofAttestation: Attestation = {
  name: "verify-proof",
  cosignType: VERIFY_PROOF_TYPE,
  predicateType: VERIFY_PROOF_TYPE,
  step: verifyStep,
  // The rule verify-proof-image, which the policy cannot check: it sees the statement, not
  // the image.
  async checkAttested(r, statements) {
    r.configDigest ??= await configDigest(r.pinned!, { loopback: r.options.signing.loopback });
    const pushed = { manifest: r.digest!, config: r.configDigest };
    const stray = statements.find((s) =>
      !isPushedImage((s.predicate as VerifyProof)?.testedImage?.id, pushed)
    );
    if (stray) {
      throw new Error(
        `rule verify-proof-image: verify tested ${
          (stray.predicate as VerifyProof)?.testedImage?.id
        }, not this image (config ${r.configDigest})`,
      );
    }
  },
  recheck: recheckProof,
  kyverno: ({ verify: v }) => [
    {
      all: [
        // What the CUE's verify-fields requires: every check has an id and a status, the proof
        // a mode (read below only when a check was skipped).
        cond(
          jp("length(checks[?id == `null` || status == `null`])"),
          "Equals",
          0,
          "rule verify-fields: a check without an id or a status",
        ),
        cond(jp("mode != `null`"), "Equals", true, "rule verify-fields: the proof has no mode"),
        noWildcard(
          "checks[].id",
          "rule verify-required-checks: a required check is missing from the proof",
        ),
        cond(
          v.requiredChecks,
          "AllIn",
          jp("checks[].id"),
          "rule verify-required-checks: a required check is missing from the proof",
        ),
      ],
    },
    ...checksPass(v),
  ],
};
