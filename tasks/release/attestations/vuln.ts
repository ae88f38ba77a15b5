/**
 * The vulnerability scan (`vuln`), attached with `--scan FILE` only: Trivy's result in
 * cosign's vuln format (`trivy --format cosign-vuln`), as the GitHub workflow makes it. The
 * release refuses fixable findings at the policy's `vuln.failOn` severities, the deploy's
 * rule `vuln-fixable`, so the two gates agree.
 *
 * @module
 */
import { pass } from "../../_lib/mod.ts";
import { readPolicyFile } from "../policy.ts";
import { publishing, type ReleaseStep } from "../run.ts";
import type { Attestation } from "./mod.ts";

/** cosign's vulnerability-scan predicate type. */
export const VULN_TYPE = "https://cosign.sigstore.dev/attestation/vuln/v1";

/** The policy's parameters for the scan (`vuln`). */
export interface VulnPolicy {
  /** The severities a fixable finding is refused at. */
  failOn: string[];
}

/** The severities `--scan` refuses a fixable finding at without `--policy`: Trivy's gate. */
export const DEFAULT_FAIL_ON: readonly string[] = ["CRITICAL", "HIGH"];

/**
 * `scan` (with `--scan FILE`): refuses fixable findings at the policy's `vuln.failOn`
 * severities ({@linkcode DEFAULT_FAIL_ON} without `--policy`), else keeps the file.
 */
export const scanStep: ReleaseStep = {
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

/** The scan attestation: attached with `--scan`, required only by a policy that lists it. */
export const vuln: Attestation = {
  name: "vuln",
  cosignType: "vuln",
  predicateType: VULN_TYPE,
  optional: (options) => options.scan !== undefined,
  step: scanStep,
};
