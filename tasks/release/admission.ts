/**
 * The admission component (deploy/kubernetes/components/admission/) rendered from the policy
 * file, so the cluster enforces what `deno task release --verify-only --policy` enforces:
 *
 * - a sigstore policy-controller `ClusterImagePolicy` whose attestations are the policy's
 *   `attestations` parameter, each with the policy file's exact text as its CUE policy;
 * - a Kyverno `ClusterPolicy` (Kyverno has no CUE or Rego: JMESPath conditions) whose
 *   conditions are made from the same parameters: required attestations, build type,
 *   builders, sources, base digests, clean tree, verify checks, the permission ceiling.
 *
 * Run it after editing the policy (tests/policy_test.ts fails while the files differ):
 * `deno run --allow-read --allow-write tasks/release/admission.ts`
 *
 * @module
 */
// deno-lint-ignore no-import-prefix -- tooling only: kept out of deno.json's imports (image)
import { stringify } from "npm:yaml@2.9.1";
import { ROOT } from "../_lib/mod.ts";
import { POLICY_FILE, type PolicyParams, readPolicyParams } from "./policy.ts";

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

const HEADER = (what: string) =>
  `# GENERATED from deploy/policy/swft.cue by tasks/release/admission.ts: do not edit.\n` +
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
 * One Kyverno condition: a JMESPath `{{ }}` key (or a value), an operator, a value and the
 * message Kyverno reports when it fails: `rule RULE: WHY`, the CUE rule it stands for, so a
 * refusal names the rule as `--verify-only --policy` does. In an `any` block Kyverno joins the
 * messages of every condition, so only its last one carries it.
 */
export type Condition = { key: unknown; operator: string; value: unknown; message?: string };
const cond = (key: unknown, operator: string, value: unknown, message?: string): Condition => ({
  key,
  operator,
  value,
  ...(message ? { message } : {}),
});
const jp = (expression: string) => `{{ ${expression} }}`;
const literal = (value: unknown) => `\`${JSON.stringify(value)}\``;
/**
 * Kyverno's In operators match both ways, so a predicate's value holding `*` or `?` would
 * match any accepted value (a builder id `*` is every builder). Before any such condition,
 * this one refuses a wildcard in the strings `expression` yields (a list; nulls skipped); the
 * CUE compares exactly and needs no such guard.
 */
const noWildcard = (expression: string, message: string): Condition =>
  cond(
    jp(`length(${expression} | [?@] | [?contains(@, '*') || contains(@, '?')])`),
    "Equals",
    0,
    message,
  );

/** Kyverno's attestation conditions for each predicate type, from the policy's parameters. */
export function kyvernoConditions(
  params: PolicyParams,
): Record<string, { all?: Condition[]; any?: Condition[] }[]> {
  const p = params.provenance;
  const v = params.verify;
  const c = params.permissions;
  const source = "buildDefinition.resolvedDependencies[?name == 'source']";
  const forbiddenKinds = c.forbidden.filter((f) => f.startsWith("--allow-"))
    .map((f) => f.slice("--allow-".length));
  const notPass = v.acceptBuildChecksNotRun
    ? [
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
    ]
    : [{
      all: [
        cond(
          jp("length(checks[?status != 'pass'])"),
          "Equals",
          0,
          "rule verify-checks-pass: a check did not pass",
        ),
      ],
    }];
  const repositories = p.sourceRepositories.length > 0;
  const notSource = "rule provenance-source: not an accepted source repository";
  const notDigests = `rule provenance-base-digests: ${
    p.baseImages.join(", ")
  } not all resolved to a sha256 digest`;
  const notLong = "rule permissions-form: a flag that is not a long --allow-/--deny- flag";
  return {
    "https://cyclonedx.org/bom": [{
      all: [
        cond(jp("bomFormat"), "Equals", "CycloneDX", "rule sbom-format: not a CycloneDX document"),
      ],
    }],
    "https://slsa.dev/provenance/v1": [
      {
        all: [
          cond(
            jp("buildDefinition.buildType"),
            "Equals",
            p.buildType,
            `rule provenance-build-type: not the build type ${p.buildType}`,
          ),
          noWildcard("[runDetails.builder.id]", "rule provenance-builder: not an accepted builder"),
          cond(
            jp("runDetails.builder.id"),
            "AnyIn",
            p.builders,
            "rule provenance-builder: not an accepted builder",
          ),
          noWildcard("buildDefinition.resolvedDependencies[].name", notDigests),
          cond(
            p.baseImages,
            "AllIn",
            // A sha256 digest is 64 characters (the CUE also checks they are hex, which
            // JMESPath cannot).
            jp("buildDefinition.resolvedDependencies[?length(digest.sha256 || '') == `64`].name"),
            notDigests,
          ),
          noWildcard(
            `[${source}.annotations.rootCommit, ${source}.annotations.repository] | []`,
            notSource,
          ),
          ...(p.acceptDirty ? [] : [
            cond(
              jp(`length(${source}.annotations | [?dirty != \`false\`])`),
              "Equals",
              0,
              "rule provenance-clean-tree: built from a work tree with uncommitted changes",
            ),
          ]),
        ],
      },
      {
        any: [
          cond(
            jp(`${source}.annotations.rootCommit`),
            "AnyIn",
            p.sourceRootCommits,
            repositories ? undefined : notSource,
          ),
          ...(repositories
            ? [
              cond(
                jp(`${source}.annotations.repository`),
                "AnyIn",
                p.sourceRepositories,
                notSource,
              ),
            ]
            : []),
        ],
      },
    ],
    "urn:swft:attestation:verify-proof:v1": [
      {
        all: [
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
      ...notPass,
    ],
    "urn:swft:attestation:deno-permissions:v1": [
      {
        all: [
          cond(
            jp("runtime"),
            "Equals",
            c.runtime,
            `rule permissions-runtime: not the runtime ${c.runtime}`,
          ),
          // Every flag in long form, as the CUE's permissions-form: the conditions below read
          // the predicate's `allow`, grouped from long flags only. No `*` or `?` first, as the
          // In operators would read one in a flag as a wildcard.
          noWildcard("flags", notLong),
          cond(jp("flags"), "AllIn", ["--allow-?*", "--deny-?*"], notLong),
          cond(
            jp("keys(allow)"),
            "AllNotIn",
            forbiddenKinds,
            `rule permissions-forbidden: one of ${c.forbidden.join(", ")} (never allowed)`,
          ),
          cond(
            jp("keys(allow)"),
            "AllIn",
            Object.keys(c.ceiling),
            "rule permissions-ceiling: a permission the ceiling does not grant",
          ),
          // Kyverno's In operators read `*` and `?` as wildcards on either side, so a bare
          // flag's ["*"] would be within any ceiling below: refused first, as the CUE does.
          noWildcard(
            "values(allow)[]",
            "rule permissions-ceiling: unrestricted, the ceiling lists what it may reach",
          ),
          ...Object.entries(c.ceiling).map(([kind, allowed]) =>
            cond(
              jp(`allow.${kind} || \`[]\``),
              "AllIn",
              allowed,
              `rule permissions-ceiling: --allow-${kind} beyond the ceiling`,
            )
          ),
        ],
      },
    ],
  };
}

/** The Kyverno ClusterPolicy for the policy's parameters. */
export function kyvernoPolicy(params: PolicyParams): unknown {
  const conditions = kyvernoConditions(params);
  const attestors = [{
    count: 1,
    entries: [
      { keys: { publicKeys: `k8s://kyverno/${PLACEHOLDERS.keySecret}` } },
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
      }],
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
  };
}

if (import.meta.main) {
  for (const [name, text] of Object.entries(renderAdmission())) {
    Deno.writeTextFileSync(`${ADMISSION_DIR}/${name}`, text);
    console.error(`admission: wrote ${ADMISSION_DIR}/${name}`);
  }
}
