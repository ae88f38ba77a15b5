/**
 * The admission component (deploy/kubernetes/components/admission/) rendered from the policy
 * file, so the cluster enforces what `deno task release --verify-only --policy` enforces:
 *
 * - a sigstore policy-controller `ClusterImagePolicy` whose attestations are the policy's
 *   `attestations` parameter, each with the policy file's exact text as its CUE policy;
 * - a Kyverno `ClusterPolicy` (Kyverno has no CUE or Rego: JMESPath conditions) whose
 *   conditions are made from the same parameters by each attestation's module
 *   (tasks/release/attestations/): build type, builders, sources, base digests, clean tree,
 *   verify checks, the permission ceiling.
 *
 * Run it after editing the policy (tests/policy_test.ts fails while the files differ):
 * `deno run --allow-read --allow-write tasks/release/admission.ts`
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- tooling only: kept out of deno.json's imports (image)
import { stringify } from "npm:yaml@2.9.1";
import { ROOT } from "../_lib/mod.ts";
import type { ConditionBlock } from "./attestations/_kyverno.ts";
import { ATTESTATIONS } from "./attestations/mod.ts";
import { POLICY_FILE, type PolicyParams, readPolicyParams } from "./policy.ts";
import { entrypointPolicy, kyvernoEntrypointRule } from "./admission_entrypoint.ts";

export type { Condition, ConditionBlock } from "./attestations/_kyverno.ts";

/** Where the component lives: one sub-component per controller (a cluster runs one). */
export const ADMISSION_DIR = `${ROOT}/deploy/kubernetes/components/admission`;

/** Placeholders a deployer replaces (docs/kubernetes.md shows the patch). */
export const PLACEHOLDERS = {
  /** The images the policies apply to. */
  images: "ghcr.io/acme/swft*",
  /** The release workflow's keyless identity. */
  identity: "https://github.com/ACME/SWFT/.github/workflows/release.yml@refs/tags/*",
  /** The OIDC issuer of GitHub Actions. */
  issuer: "https://token.actions.githubusercontent.com",
  /** The Secret (key `cosign.pub`) that holds the release key's public half. */
  keySecret: "swft-cosign-pub",
};

/**
 * The release workflow's identity as a regular expression, for both controllers: the
 * placeholder's trailing `*` is a version tag `vX.Y.Z`, as the workflow releases them (a
 * Kyverno `subject` wildcard would admit any tag the policy-controller refuses).
 *
 * @example
 * ```ts
 * new RegExp(IDENTITY_REGEXP).test(
 *   "https://github.com/ACME/SWFT/.github/workflows/release.yml@refs/tags/v1.0.0",
 * ); // true
 * ```
 */
export const IDENTITY_REGEXP = `^${
  PLACEHOLDERS.identity.replace(/[.]/g, "\\.").replace(/\*$/, "v[0-9]+\\.[0-9]+\\.[0-9]+")
}$`;

const HEADER = (what: string, from = "deploy/policy/swft.cue") =>
  `# GENERATED from ${from} by tasks/release/admission.ts: do not edit.\n` +
  `# ${what}\n` +
  `# Neither controller runs in this project's CI: tests/policy_test.ts validates the structure.\n`;

/** The policy-controller ClusterImagePolicy for the policy file's text. */
export function clusterImagePolicy(policyText: string, params: PolicyParams): unknown {
  // One object for every attestation: the YAML writer emits it once, as an anchor.
  const policy = { type: "cue", data: policyText };
  const attestations = params.attestations.map((a) => ({
    name: a.name,
    predicateType: a.predicateType,
    policy,
  }));
  return {
    apiVersion: "policy.sigstore.dev/v1beta1",
    kind: "ClusterImagePolicy",
    metadata: { name: "swft-trust" },
    spec: {
      images: [{ glob: PLACEHOLDERS.images.replace(/\*$/, "**") }],
      // The default, written out: `warn` admits a refused image with a warning.
      mode: "enforce",
      authorities: [
        {
          name: "release-key",
          key: { secretRef: { name: PLACEHOLDERS.keySecret } },
          attestations,
        },
        {
          name: "release-workflow",
          keyless: {
            url: "https://fulcio.sigstore.dev",
            identities: [{
              issuer: PLACEHOLDERS.issuer,
              subjectRegExp: IDENTITY_REGEXP,
            }],
          },
          ctlog: { url: "https://rekor.sigstore.dev" },
          attestations,
        },
      ],
    },
  };
}

/**
 * Kyverno's attestation conditions for each predicate type, from the policy's parameters: each
 * attestation's own (its module's `kyverno`), for every attestation of the registry that has
 * them.
 */
export function kyvernoConditions(params: PolicyParams): Record<string, ConditionBlock[]> {
  return Object.fromEntries(
    ATTESTATIONS.flatMap((a) => a.kyverno ? [[a.predicateType, a.kyverno(params)]] : []),
  );
}

/** The Kyverno ClusterPolicy for the policy's parameters. */
export function kyvernoPolicy(params: PolicyParams): unknown {
  const conditions = kyvernoConditions(params);
  const attestors = [{
    count: 1,
    entries: [
      {
        keys: {
          publicKeys: `k8s://kyverno/${PLACEHOLDERS.keySecret}`,
          // The key-pair release signs and attests with --no-tlog. Without these Kyverno looks
          // each signature up in the public Rekor and CT log (pkg/engine/internal/
          // imageverifier.go) and refuses every key-pair release.
          rekor: { url: "https://rekor.sigstore.dev", ignoreTlog: true },
          ctlog: { ignoreSCT: true },
        },
      },
      {
        keyless: {
          subjectRegExp: IDENTITY_REGEXP,
          issuer: PLACEHOLDERS.issuer,
          rekor: { url: "https://rekor.sigstore.dev" },
        },
      },
    ],
  }];
  return {
    apiVersion: "kyverno.io/v1",
    kind: "ClusterPolicy",
    metadata: {
      name: "swft-trust",
      annotations: {
        "policies.kyverno.io/title": "SWFT trust chain",
        "policies.kyverno.io/description":
          "Admit SWFT images only when signed and attested as deploy/policy/swft.cue requires.",
      },
    },
    spec: {
      validationFailureAction: "Enforce",
      background: false,
      webhookTimeoutSeconds: 30,
      rules: [{
        name: "swft-attestations",
        match: { any: [{ resources: { kinds: ["Pod"] } }] },
        verifyImages: [{
          imageReferences: [PLACEHOLDERS.images],
          mutateDigest: true,
          verifyDigest: true,
          required: true,
          attestors,
          attestations: params.attestations.map((a) => ({
            predicateType: a.predicateType,
            attestors,
            conditions: conditions[a.predicateType] ?? [],
          })),
        }],
      }, kyvernoEntrypointRule()],
    },
  };
}

/** The component's generated files, by name, for the policy file `path`. */
export function renderAdmission(path: string = POLICY_FILE): Record<string, string> {
  const text = Deno.readTextFileSync(path);
  const params = readPolicyParams(text, path);
  return {
    "policy-controller/clusterimagepolicy.yaml":
      HEADER("sigstore policy-controller: the policy file, verbatim.") +
      stringify(clusterImagePolicy(text, params), { lineWidth: 0 }),
    "kyverno/clusterpolicy.yaml": HEADER("Kyverno: conditions from the policy's parameters.") +
      stringify(kyvernoPolicy(params), { lineWidth: 0, aliasDuplicateObjects: false }),
    "policy-controller/entrypoint.yaml": HEADER(
      "The rule pod-entrypoint for clusters that run policy-controller (Kubernetes >= 1.30).",
      "tasks/release/admission_entrypoint.ts",
    ) + entrypointPolicy().map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
  };
}

if (import.meta.main) {
  for (const [name, text] of Object.entries(renderAdmission())) {
    Deno.writeTextFileSync(`${ADMISSION_DIR}/${name}`, text);
    console.error(`admission: wrote ${ADMISSION_DIR}/${name}`);
  }
}
