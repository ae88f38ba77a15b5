/**
 * The attestations a release attaches, as data (container-structure-test's way with checks):
 * one module each, holding its kind (name, cosign type, predicate type), its predicate
 * builder, the release step that writes the predicate, the policy parameters its rules read
 * and its Kyverno conditions. {@linkcode ATTESTATIONS} is the registry every consumer reads:
 * the release's steps and what it attaches and verifies, `--verify-only`, the admission
 * generator (tasks/release/admission.ts) and the tests. Adding an attestation is its module,
 * its tests and one entry here (and its rules in deploy/policy/swft.cue).
 *
 * The type URIs of our own predicates are versioned URNs because the project owns no domain:
 * a URN cannot be mistaken for a document to fetch, and it squats nobody's host.
 *
 * @module
 */
import type { Statement } from "../cosign.ts";
import type { PolicyParams } from "../policy.ts";
import type { ReleaseOptions, ReleaseRun, ReleaseStep } from "../run.ts";
import type { ConditionBlock } from "./_kyverno.ts";
import { permissions } from "./permissions.ts";
import { provenance } from "./provenance.ts";
import { sbom } from "./sbom.ts";
import { verifyProofAttestation } from "./verify_proof.ts";
import { vuln } from "./vuln.ts";

/** One kind of attestation: what the policy's `attestations` parameter lists. */
export interface AttestationKind {
  /** Its name in the report and the policy (`sbom`, `provenance`, ...). */
  name: string;
  /** What `cosign attest --type` / `verify-attestation --type` take. */
  cosignType: string;
  /** The in-toto predicate type cosign writes for it. */
  predicateType: string;
}

/** One attestation the release can attach: its kind and everything that belongs to it. */
export interface Attestation extends AttestationKind {
  /**
   * Attached only when the run asks for it (`vuln`: with `--scan`), and so not required by the
   * project's policy; the others are attached by every release and required.
   */
  optional?: (options: ReleaseOptions) => boolean;
  /** The release step that makes the predicate and records its file in `r.predicates[name]`. */
  step: ReleaseStep;
  /**
   * What the release checks on the statements cosign verified, beyond the policy (the SBOM is
   * the one generated, the proof is about this image); throws one line.
   */
  checkAttested?: (r: ReleaseRun, statements: Statement[]) => Promise<void>;
  /**
   * The consumer's re-check (`--verify-only`, step `recheck`): what the verified statements
   * claim, derived again from the image pulled by digest; throws one line naming the rule when
   * they disagree, else returns what it found.
   */
  recheck?: (r: ReleaseRun, statements: Statement[]) => Promise<string>;
  /** Its Kyverno conditions from the policy's parameters (the CUE rules' equivalent). */
  kyverno?: (params: PolicyParams) => ConditionBlock[];
}

/**
 * The registry: every attestation, in the order the release makes, attaches and reports them
 * (verify's proof first: the step most likely to refuse, before the SBOM's slow scan).
 */
export const ATTESTATIONS: readonly Attestation[] = [
  verifyProofAttestation,
  permissions,
  sbom,
  provenance,
  vuln,
];

/** The kind of an attestation, as the policy's `attestations` parameter writes it. */
export function kindOf(attestation: AttestationKind): AttestationKind {
  const { name, cosignType, predicateType } = attestation;
  return { name, cosignType, predicateType };
}

/**
 * The attestations every release attaches, which the project's policy requires.
 *
 * @example
 * ```ts
 * requiredAttestations().map((a) => a.name); // ["verify-proof", "permissions", "sbom", "provenance"]
 * ```
 */
export function requiredAttestations(): Attestation[] {
  return ATTESTATIONS.filter((a) => !a.optional);
}

/** The attestations a run with `options` attaches: the required ones, and those it asks for. */
export function attachedAttestations(options: ReleaseOptions): Attestation[] {
  return ATTESTATIONS.filter((a) => !a.optional || a.optional(options));
}

/** The attestation named `name`; throws naming the registry's names. */
export function attestationNamed(name: string): Attestation {
  const found = ATTESTATIONS.find((a) => a.name === name);
  if (!found) {
    throw new Error(
      `Cannot find attestation ${name}: the registry has ${ATTESTATIONS.map((a) => a.name)}`,
    );
  }
  return found;
}
