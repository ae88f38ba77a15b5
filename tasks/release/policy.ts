/**
 * The deploy policy (deploy/policy/swft.cue) as the release uses it: its parameters (which
 * attestations an image must carry, the accepted sources and builders, the verify checks, the
 * permission ceiling), and cosign's long refusal turned into one line that names the rule.
 *
 * cosign evaluates the CUE file once per attestation of the requested type; the attestations
 * that must exist at all are the `attestations` parameter, which the release asks cosign for
 * one by one (a missing one is the rule `required-attestations`).
 *
 * @module
 */
import { ROOT } from "../_lib/mod.ts";
import type { AttestationKind } from "./attestations/mod.ts";
import type { PermissionsPolicy } from "./attestations/permissions.ts";
import type { ProvenancePolicy } from "./attestations/provenance.ts";
import type { VerifyProofPolicy } from "./attestations/verify_proof.ts";
import type { VulnPolicy } from "./attestations/vuln.ts";
import type { RebuildPolicy } from "./attestations/rebuild.ts";

/** The policy file of this project. */
export const POLICY_FILE = `${ROOT}/deploy/policy/swft.cue`;

/**
 * The policy's parameters (the JSON block of the CUE file): which attestations an image must
 * carry, and each attestation's section, declared by its module.
 */
export interface PolicyParams {
  /** The attestations an image must carry. */
  attestations: AttestationKind[];
  /** What the provenance must say. */
  provenance: ProvenancePolicy;
  /** What the verify proof must show. */
  verify: VerifyProofPolicy;
  /** The permission ceiling. */
  permissions: PermissionsPolicy;
  /** The scan: the severities a fixable finding is refused at. */
  vuln?: VulnPolicy;
  /** Third-party rebuilds required (tasks/release/attestations/rebuild.ts); none by default. */
  rebuild?: RebuildPolicy;
}

const BEGIN = "// ---- parameters (JSON) ----";
const END = "// ---- end of parameters ----";

/**
 * The parameters of a policy file's text; throws one line when the block is missing or is not
 * JSON.
 *
 * @example
 * ```ts
 * readPolicyParams(Deno.readTextFileSync(POLICY_FILE)).attestations.map((a) => a.name);
 * // ["verify-proof", "permissions", "sbom", "provenance"]
 * ```
 */
export function readPolicyParams(text: string, path = "the policy"): PolicyParams {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) {
    throw new Error(`Cannot read ${path}: no parameters block ("${BEGIN}" ... "${END}")`);
  }
  const block = text.slice(begin + BEGIN.length, end).trim().replace(/^#params:\s*/, "");
  let params: PolicyParams;
  try {
    params = JSON.parse(block);
  } catch (error) {
    throw new Error(
      `Cannot read ${path}: its parameters are not JSON (${(error as Error).message})`,
    );
  }
  if (!Array.isArray(params?.attestations)) {
    throw new Error(`Cannot read ${path}: its parameters list no attestations`);
  }
  return params;
}

/** The parameters of the policy file at `path` ({@linkcode readPolicyParams}). */
export function readPolicyFile(path: string): PolicyParams {
  return readPolicyParams(Deno.readTextFileSync(path), path);
}

/**
 * One line for a refusal, from `cosign verify-attestation --policy` output: the rule and what
 * it refused, or `undefined` when cosign refused for another reason (no signature, a wrong
 * key...).
 *
 * @example
 * ```ts
 * policyRefusal('- rules."permissions-forbidden"."--allow-all": conflicting values "never allowed" and "refused"');
 * // "rule permissions-forbidden: --allow-all (never allowed)"
 * ```
 */
export function policyRefusal(output: string): string | undefined {
  // The key is a path: `."--allow-all"`, or `.predicate.flags` for a field the predicate lacks.
  const segment = /\.("(?:[^"\\]|\\.)*"|[\w-]+)/g;
  const match = /^- rules\."([\w-]+)"((?:\.(?:"(?:[^"\\]|\\.)*"|[\w-]+))*): (.*)$/m.exec(output);
  if (match) {
    const [, rule, rawPath, problem] = match;
    const key = [...rawPath.matchAll(segment)]
      .map(([, s]) => s.startsWith('"') ? JSON.parse(s) as string : s).join(".");
    const values = /^conflicting values ("(?:[^"\\]|\\.)*") and ("(?:[^"\\]|\\.)*")/.exec(problem);
    let what = problem.replace(/ \(and \d+ more errors?\)$/, "");
    if (values) {
      const [a, b] = [JSON.parse(values[1]) as string, JSON.parse(values[2]) as string];
      // The policy refuses with `#refuse & "reason"`; otherwise the two values are the
      // attested one and the one the policy wants.
      what = a === "refused" ? b : b === "refused" ? a : `"${a}" and "${b}" conflict`;
    }
    return `rule ${rule}: ${key ? `${key} (${what})` : what}`;
  }
  const none = /none of the attestations matched the predicate type: ([^,\s]+)/.exec(output);
  if (none) return `rule required-attestations: no ${none[1]} attestation`;
  return undefined;
}
