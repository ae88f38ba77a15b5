/**
 * The attestations a release attaches, as data: which cosign type carries which predicate,
 * and the three predicates of our own making (SLSA v1 provenance, verify's proof, Deno's
 * permissions). The policy (deploy/policy/swft.cue) names the same types; the type URIs are
 * versioned URNs because the project owns no domain: a URN cannot be mistaken for a document
 * to fetch, and it squats nobody's host.
 *
 * @module
 */
import type { Report as VerifyReport } from "../verify/report.ts";

/** SLSA v1 provenance: the predicate type cosign's `slsaprovenance1` stands for. */
export const PROVENANCE_TYPE = "https://slsa.dev/provenance/v1";
/** CycloneDX SBOM: cosign's `cyclonedx`. */
export const SBOM_TYPE = "https://cyclonedx.org/bom";
/** verify's proof: its JSON report plus the tested image. */
export const VERIFY_PROOF_TYPE = "urn:swft:attestation:verify-proof:v1";
/** The Deno permissions the image's process runs with. */
export const PERMISSIONS_TYPE = "urn:swft:attestation:deno-permissions:v1";
/** cosign's vulnerability-scan predicate (the GitHub workflow attests Trivy's result). */
export const VULN_TYPE = "https://cosign.sigstore.dev/attestation/vuln/v1";
/** The build this project's release performs: its Dockerfile, built by `deno task release`. */
export const BUILD_TYPE = "urn:swft:build:release:v1";
/** The builder when the release runs anywhere but a GitHub-hosted runner. */
export const LOCAL_BUILDER = "urn:swft:builder:local:v1";
/** GitHub-hosted runners, as SLSA's GitHub Actions build types name them. */
export const GITHUB_BUILDER = "https://github.com/actions/runner/github-hosted";

/** One kind of attestation the release attaches and verifies. */
export interface AttestationKind {
  /** Its name in the report and the policy (`sbom`, `provenance`, ...). */
  name: string;
  /** What `cosign attest --type` / `verify-attestation --type` take. */
  cosignType: string;
  /** The in-toto predicate type cosign writes for it. */
  predicateType: string;
}

/** The release's attestations, in the order they are attached. */
export const ATTESTATIONS: readonly AttestationKind[] = [
  { name: "sbom", cosignType: "cyclonedx", predicateType: SBOM_TYPE },
  { name: "provenance", cosignType: "slsaprovenance1", predicateType: PROVENANCE_TYPE },
  { name: "verify-proof", cosignType: VERIFY_PROOF_TYPE, predicateType: VERIFY_PROOF_TYPE },
  { name: "permissions", cosignType: PERMISSIONS_TYPE, predicateType: PERMISSIONS_TYPE },
];

/** The optional scan attestation (`--scan FILE`). */
export const VULN_ATTESTATION: AttestationKind = {
  name: "vuln",
  cosignType: "vuln",
  predicateType: VULN_TYPE,
};

/** An SLSA v1 resource descriptor (what was used, by digest). */
export interface ResourceDescriptor {
  /** What it is to this build: `source`, `DENO_IMAGE`, `RUNTIME_IMAGE`, `deno.lock`. */
  name: string;
  /** Where it comes from: `git+URL@SHA`, `pkg:docker/...`, `file:deno.lock`. */
  uri: string;
  /** Its digests by algorithm (`sha256`, `gitCommit`). */
  digest: Record<string, string>;
  /** Facts a policy reads (the source's root commit, a dirty tree, which digest it is). */
  annotations?: Record<string, unknown>;
}

/** The SLSA v1 provenance predicate as the release writes it. */
export interface Provenance {
  /** What was built, how, from what. */
  buildDefinition: {
    /** {@linkcode BUILD_TYPE}. */
    buildType: string;
    /** What the person releasing chose: source, Dockerfile, target, build arguments. */
    externalParameters: Record<string, unknown>;
    /** What the builder chose: Deno and Docker versions. */
    internalParameters: Record<string, unknown>;
    /** The source commit, each base image and deno.lock, by digest. */
    resolvedDependencies: ResourceDescriptor[];
  };
  /** Who built it and when. */
  runDetails: {
    /** The builder's id and versions. */
    builder: { id: string; version?: Record<string, string> };
    /** This run: its invocation id and times. */
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
  };
}

/** The Deno permissions predicate. */
export interface PermissionsPredicate {
  /** Always `deno`. */
  runtime: "deno";
  /** Deno's version inside the image. */
  deno: string;
  /** The `--allow-*` / `--deny-*` flags, in long form, as the process gets them. */
  flags: string[];
  /** The same flags by kind (`net`, `read`, `env`...): the values, or `["*"]` for all. */
  allow: Record<string, string[]>;
  /** The `--deny-*` flags by kind. */
  deny: Record<string, string[]>;
  /** Where they were read: the image's ENTRYPOINT, the compiled binary, or the compile flags. */
  source: "entrypoint" | "binary" | "compile-flags";
  /** The image's ENTRYPOINT. */
  entrypoint: string[];
}

/** verify's proof: verify's report, which image it tested, by whom, in which mode. */
export type VerifyProof = VerifyReport & {
  /** The tool that made the report. */
  verifier: { name: "swft-verify"; version: string };
  /** `build`: verify built the image; `existing-image`: it checked one built before. */
  mode: "build" | "existing-image";
  /** The image verify tested: its id is its config digest. */
  testedImage: { id: string; ref: string };
};
