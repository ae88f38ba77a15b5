/**
 * The deploy policy offline: deploy/policy/swft.cue's parameters agree with what the release
 * attaches and what verify reports; the shipped image's own permissions are within its
 * ceiling; the admission component is generated from it (the policy-controller's
 * ClusterImagePolicy embeds the file verbatim, Kyverno's conditions come from its parameters),
 * renders with kustomize and validates against the controllers' CRD schemas; and the Kyverno
 * conditions refuse the same crafted predicates the CUE policy refuses under cosign
 * (tests/release_test.ts's round). Neither controller runs here.
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- test tooling: kept out of deno.json's imports (image)
import Ajv from "npm:ajv@8.17.1";
import { ROOT, taskCommand } from "../tasks/_lib/mod.ts";
import { permissionFlags } from "../tasks/build.ts";
import {
  ADMISSION_DIR,
  clusterImagePolicy,
  IDENTITY_REGEXP,
  kyvernoConditions,
  kyvernoPolicy,
  renderAdmission,
} from "../tasks/release/admission.ts";
import { entrypointFlags } from "../tasks/release/attestations/permissions.ts";
import { groupFlags } from "../tasks/_lib/deno_run.ts";
import { POLICY_FILE, policyRefusal, readPolicyParams } from "../tasks/release/policy.ts";
import {
  attestationNamed,
  ATTESTATIONS,
  kindOf,
  requiredAttestations,
} from "../tasks/release/attestations/mod.ts";
import { NOT_RUN_ON_EXISTING_IMAGE } from "../tasks/verify/checks_build.ts";
import { loadConfig } from "../tasks/verify/config.ts";
import { registry } from "../tasks/verify/mod.ts";
import { requiredTest } from "./_container.ts";
import { kyvernoSearch } from "./_jmespath.ts";
import { POLICY_PARAMS as PARAMS, POLICY_TEXT as TEXT } from "./_policy.ts";
import { kubectlVersion, type KubeObject, render, validateAgainst } from "./_kubernetes.ts";
import {
  acceptedPredicates,
  CROSS_REFUSALS,
  MISSING_FIELDS,
  PREDICATE_REFUSALS,
  type Predicates,
  refusedPredicate,
  runtimeDenoEntrypoint,
  withoutField,
} from "./_trust_fixtures.ts";

Deno.test("policy: it requires exactly the attestations the release attaches", () => {
  assert.deepEqual(PARAMS.attestations, requiredAttestations().map(kindOf));
});

Deno.test("policy: every attestation of the registry has its rules, the required ones Kyverno conditions too", () => {
  const conditions = kyvernoConditions(PARAMS);
  for (const attestation of ATTESTATIONS) {
    assert.ok(
      TEXT.includes(`\t"${attestation.predicateType}": {`),
      `${attestation.name}: rules for ${attestation.predicateType} in ${POLICY_FILE}`,
    );
    if (attestation.optional) continue;
    assert.ok(conditions[attestation.predicateType]?.length, `${attestation.name}: Kyverno`);
  }
});

Deno.test("policy: it requires every check verify has (deno task generate), its build checks those --from does not run", async () => {
  const ids = registry(await loadConfig(`${ROOT}/verify.config.json`)).map((c) => c.id);
  assert.deepEqual(PARAMS.verify.requiredChecks, ids);
  for (const id of ["runtime-no-setuid", "image-labels", "container-logs"]) {
    assert.ok(PARAMS.verify.requiredChecks.includes(id), `${id} is required`);
  }
  assert.deepEqual(PARAMS.verify.buildChecks, [...NOT_RUN_ON_EXISTING_IMAGE]);
});

Deno.test("policy: the image's own permissions are within its ceiling (runtime-deno and compiled)", () => {
  const entrypoint = runtimeDenoEntrypoint();
  const compiled = permissionFlags(taskCommand("start"));
  for (const flags of [entrypointFlags(entrypoint), compiled]) {
    const { allow } = groupFlags(flags);
    for (const [kind, values] of Object.entries(allow)) {
      const ceiling = PARAMS.permissions.ceiling[kind];
      assert.ok(ceiling, `--allow-${kind} is a kind the ceiling grants`);
      for (const value of values) {
        assert.ok(
          ceiling.includes(value) ||
            ceiling.some((c) => c.endsWith("*") && value.startsWith(c.slice(0, -1))),
          `--allow-${kind}=${value} within the ceiling`,
        );
      }
    }
  }
});

Deno.test("policy: a refusal becomes one line that names the rule", () => {
  assert.equal(
    policyRefusal(
      'There are 1 number of errors occurred during the validation:\n\n- rules."permissions-forbidden"."--allow-all": conflicting values "never allowed" and "refused"\nError: 1 validation errors occurred',
    ),
    "rule permissions-forbidden: --allow-all (never allowed)",
  );
  assert.equal(
    policyRefusal(
      '- rules."verify-checks-pass"."http-health": conflicting values "fail, not pass" and "refused" (and 2 more errors)',
    ),
    "rule verify-checks-pass: http-health (fail, not pass)",
  );
  assert.equal(
    policyRefusal(
      "Error: none of the attestations matched the predicate type: slsaprovenance1, found: https://cyclonedx.org/bom",
    ),
    "rule required-attestations: no slsaprovenance1 attestation",
  );
  assert.equal(policyRefusal("Error: no matching attestations: invalid signature"), undefined);
});

Deno.test("policy: a file without its parameters block is refused in one line", () => {
  assert.throws(
    () => readPolicyParams("predicate: _\n", "x.cue"),
    /^Error: Cannot read x.cue: no parameters block/,
  );
  assert.throws(
    () =>
      readPolicyParams(
        "// ---- parameters (JSON) ----\n#params: {a: 1}\n// ---- end of parameters ----",
        "x.cue",
      ),
    /Cannot read x.cue: its parameters are not JSON/,
  );
});

Deno.test("admission component: both controllers admit the release workflow at a version tag, and only there", () => {
  const keyless = (object: unknown): string[] =>
    JSON.stringify(object).match(/"subjectRegExp":"(?:[^"\\]|\\.)*"/g)!.map((m) =>
      JSON.parse(`{${m}}`).subjectRegExp
    );
  const expressions = [
    ...keyless(clusterImagePolicy(TEXT, PARAMS)),
    ...keyless(kyvernoPolicy(PARAMS)),
  ];
  assert.ok(expressions.length >= 2, "an identity in each object");
  assert.deepEqual([...new Set(expressions)], [IDENTITY_REGEXP], "one expression for both");
  const identity = new RegExp(IDENTITY_REGEXP);
  const workflow = "https://github.com/ACME/SWFT/.github/workflows/release.yml@refs";
  assert.ok(identity.test(`${workflow}/tags/v1.0.0`));
  for (
    const other of [
      `${workflow}/heads/main`,
      `${workflow}/tags/v1.0.0-rc.1`,
      `${workflow}/tags/latest`,
    ]
  ) {
    assert.ok(!identity.test(other), other);
  }
});

Deno.test("admission component: the committed files are what the policy generates", () => {
  for (const [name, text] of Object.entries(renderAdmission())) {
    assert.equal(
      Deno.readTextFileSync(`${ADMISSION_DIR}/${name}`),
      text,
      `${name} is stale: run deno run --allow-read --allow-write tasks/release/admission.ts`,
    );
  }
});

const KUBECTL_SKIP = await kubectlVersion() ? undefined : "kubectl not found; install kubectl 1.32";

function crdSchema(file: string): (data: unknown) => boolean {
  const schema = JSON.parse(Deno.readTextFileSync(`${ROOT}/tests/fixtures/admission/${file}`));
  // A field that keeps any value (x-kubernetes-preserve-unknown-fields, such as Kyverno's
  // condition key and value, or a deny rule's whole `conditions`) is declared with everything
  // in it: a check that reads it through makes the unknown-field search count none of it.
  const declare = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    const n = node as Record<string, unknown>;
    if (n["x-kubernetes-preserve-unknown-fields"] === true && !n.properties) {
      n["x-any-value"] = true;
    }
    for (const child of Object.values(n)) declare(child);
  };
  declare(schema);
  // Every object's envelope, which the API server checks for any kind (a CRD's schema may
  // leave it out).
  schema.properties = {
    ...schema.properties,
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: {
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string" },
        // kustomize sets it on cluster-scoped custom resources too (it cannot know their
        // scope); the API server drops it there.
        namespace: { type: "string" },
        labels: { type: "object", additionalProperties: { type: "string" } },
        annotations: { type: "object", additionalProperties: { type: "string" } },
      },
    },
  };
  // x-kubernetes-* keywords and formats such as int32 are the API server's: ajv lets them be.
  const ajv = new Ajv.default({ strict: false, allErrors: true, validateFormats: false });
  ajv.addKeyword({
    keyword: "x-any-value",
    validate: (_: unknown, data: unknown) => !!JSON.stringify(data),
  });
  return ajv.compile(schema);
}

async function renderAdmissionComponent(): Promise<KubeObject[]> {
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/deploy/kubernetes`, prefix: ".policy-test-" });
  try {
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
        "resources: [../base]\ncomponents: [../components/admission]\n",
    );
    return await render(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

requiredTest(
  "admission component: kustomize renders both policies; the ClusterImagePolicy embeds the policy file verbatim",
  KUBECTL_SKIP,
  async () => {
    const objects = await renderAdmissionComponent();
    const cip = objects.find((o) => o.kind === "ClusterImagePolicy")!;
    assert.ok(cip, "a ClusterImagePolicy");
    assert.ok(objects.find((o) => o.kind === "ClusterPolicy"), "a Kyverno ClusterPolicy");
    assert.ok(objects.find((o) => o.kind === "Deployment"), "with the base");
    for (const authority of cip.spec.authorities) {
      assert.deepEqual(
        authority.attestations.map((a: KubeObject) => [a.name, a.predicateType]),
        PARAMS.attestations.map((a) => [a.name, a.predicateType]),
        `${authority.name}: the policy's required attestations`,
      );
      for (const attestation of authority.attestations) {
        assert.equal(attestation.policy.type, "cue");
        assert.equal(
          attestation.policy.data,
          TEXT,
          `${authority.name}/${attestation.name}: the file`,
        );
      }
    }
  },
);

requiredTest(
  "admission component: both objects validate against their controllers' CRD schemas, no unknown field",
  KUBECTL_SKIP,
  async () => {
    const schemas = {
      "policy.sigstore.dev/v1beta1/ClusterImagePolicy": crdSchema(
        "clusterimagepolicy.v1beta1.schema.json",
      ),
      "kyverno.io/v1/ClusterPolicy": crdSchema("kyverno-clusterpolicy.v1.schema.json"),
    };
    const objects = await renderAdmissionComponent();
    for (const kind of ["ClusterImagePolicy", "ClusterPolicy"]) {
      const object = objects.find((o) => o.kind === kind)!;
      assert.deepEqual(validateAgainst(object, schemas), [], kind);
    }
    // The validation can fail: a misspelt field is found.
    const cip = structuredClone(objects.find((o) => o.kind === "ClusterImagePolicy")!);
    cip.spec.authorities[0].attestations[0].polcy = cip.spec.authorities[0].attestations[0].policy;
    assert.match(validateAgainst(cip, schemas).join("\n"), /unknown field .*\.polcy/);
  },
);

// ---- Kyverno's conditions on the predicates the round refuses ----------------------------

/**
 * Kyverno's condition operators as its code evaluates them (pkg/engine/variables/operator,
 * ext/wildcard): `{{ }}` is JMESPath; the In operators take a single value or a list; `*`
 * matches any run of characters and `?` one. Equals treats only the value as a pattern, but
 * the In operators match both ways: a KEY holding `*` matches every value, so a predicate's
 * own `*` (a bare flag's `["*"]`) is a wildcard there. A model for checking our conditions
 * offline, not Kyverno itself.
 */
function holds(condition: { key: unknown; operator: string; value: unknown }, data: unknown) {
  const resolve = (x: unknown): unknown =>
    typeof x === "string" && /^\{\{.*\}\}$/s.test(x)
      ? kyvernoSearch(data, x.slice(2, -2).trim())
      : x;
  const key = resolve(condition.key);
  const value = resolve(condition.value);
  const list = (x: unknown) => Array.isArray(x) ? x : [x];
  const wildcard = (pattern: string, text: string) =>
    new RegExp(
      `^${
        [...pattern].map((c) =>
          c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
        ).join("")
      }$`,
      "s",
    ).test(text);
  const same = (k: unknown, v: unknown) => JSON.stringify(k) === JSON.stringify(v);
  const equals = (k: unknown, v: unknown) =>
    typeof k === "string" && typeof v === "string" ? wildcard(v, k) : same(k, v);
  const member = (k: unknown, v: unknown) =>
    typeof k === "string" && typeof v === "string" ? wildcard(v, k) || wildcard(k, v) : same(k, v);
  const inValue = (k: unknown) => list(value).some((v) => member(k, v));
  switch (condition.operator) {
    case "Equals":
      return equals(key, value);
    case "AnyIn":
      return list(key).some(inValue);
    case "AllIn":
      return list(key).every(inValue);
    case "AllNotIn":
      return list(key).every((k) => !inValue(k));
    default:
      throw new Error(`operator ${condition.operator} is not modelled`);
  }
}

/**
 * Kyverno's verdict on one attestation as its engine reaches it (pkg/engine/variables,
 * evaluate.go): the blocks in order, the first that fails refuses with its message, that of
 * the first failing condition of an `all`, or those of every condition of a failing `any`.
 * `undefined`: admitted.
 */
function kyvernoRefusal(predicateType: string, predicate: unknown): string | undefined {
  try {
    return conditionsRefusal(kyvernoConditions(PARAMS)[predicateType], predicate);
  } catch (error) {
    // A substitution that fails (a function on a missing field) refuses the image.
    return `failed to check attestations: ${(error as Error).message}`;
  }
}

function conditionsRefusal(
  blocks: ReturnType<typeof kyvernoConditions>[string],
  predicate: unknown,
): string | undefined {
  for (const block of blocks) {
    const failed = (block.all ?? []).find((c) => !holds(c, predicate));
    if (failed) return failed.message ?? "";
    if (block.any && !block.any.some((c) => holds(c, predicate))) {
      return block.any.map((c) => c.message).filter(Boolean).join("; ");
    }
  }
  return undefined;
}

/** The predicate type of the attestation `name`, from the registry. */
const typeOf = (name: string) => attestationNamed(name).predicateType;

Deno.test("Kyverno conditions admit the release's own predicates", () => {
  const accepted = acceptedPredicates() as unknown as Record<string, unknown>;
  for (const attestation of ATTESTATIONS.filter((a) => a.kyverno)) {
    const predicate = accepted[attestation.name];
    assert.ok(predicate, `an accepted ${attestation.name} predicate in acceptedPredicates()`);
    assert.equal(kyvernoRefusal(attestation.predicateType, predicate), undefined, attestation.name);
  }
});

for (const refusal of PREDICATE_REFUSALS) {
  Deno.test(`Kyverno conditions refuse ${refusal.name}, as the CUE rule ${refusal.rule} does`, () => {
    const changed = refusedPredicate(refusal, acceptedPredicates());
    assert.match(
      kyvernoRefusal(typeOf(refusal.attestation), changed) ?? "admitted",
      new RegExp(`^rule ${refusal.rule}: `),
    );
  });
}

Deno.test("Kyverno conditions refuse a wildcard where the CUE compares exactly, and a short digest", () => {
  // Kyverno's In operators match both ways: without the guards each of these is admitted.
  const accepted = acceptedPredicates();
  const cases: [keyof Predicates, string, (p: Predicates) => void][] = [
    ["provenance", "provenance-builder", (p) => {
      p.provenance.runDetails.builder.id = "*";
    }],
    ["provenance", "provenance-source", (p) => {
      const source = p.provenance.buildDefinition.resolvedDependencies.find((d) =>
        d.name === "source"
      )!;
      source.annotations!.rootCommit = "*";
      source.annotations!.repository = "https://git.example/someone/else.git";
    }],
    ["provenance", "provenance-base-digests", (p) => {
      const deps = p.provenance.buildDefinition.resolvedDependencies;
      const kept = deps.filter((d) => !/_IMAGE$/.test(d.name));
      deps.splice(0, deps.length, ...kept, {
        name: "*",
        uri: "oci://x",
        digest: { sha256: "e".repeat(64) },
      });
    }],
    ["provenance", "provenance-base-digests", (p) => {
      const base = p.provenance.buildDefinition.resolvedDependencies.find((d) =>
        d.name === "DENO_IMAGE"
      )!;
      base.digest = { sha256: "e".repeat(12) };
    }],
    ["verify-proof", "verify-required-checks", (p) => {
      p["verify-proof"].checks = [{ id: "*", status: "pass", detail: "", ms: 1 }];
    }],
  ];
  for (const [attestation, rule, change] of cases) {
    const changed = structuredClone(accepted);
    change(changed);
    assert.match(
      kyvernoRefusal(typeOf(attestation), changed[attestation]) ?? "admitted",
      new RegExp(`^rule ${rule}: `),
      `${attestation}: ${rule}`,
    );
  }
});

Deno.test("Kyverno conditions refuse a dirty tree, a bare --allow-net and a check skipped in a build run", () => {
  const accepted = acceptedPredicates();
  const dirty = structuredClone(accepted.provenance);
  dirty.buildDefinition.resolvedDependencies[0].annotations!.dirty = true;
  assert.match(
    kyvernoRefusal(typeOf("provenance"), dirty) ?? "admitted",
    /^rule provenance-clean-tree: /,
  );
  const bare = { ...accepted.permissions, flags: [...accepted.permissions.flags, "--allow-net"] };
  assert.match(
    kyvernoRefusal(typeOf("permissions"), bare) ?? "admitted",
    /^rule permissions-ceiling: unrestricted/,
  );
  const built = { ...structuredClone(accepted["verify-proof"]), mode: "build" };
  assert.match(
    kyvernoRefusal(typeOf("verify-proof"), built) ?? "admitted",
    /^rule verify-checks-pass: checks were skipped in a run that built the image$/,
  );
});

for (const refusal of CROSS_REFUSALS) {
  Deno.test(`Kyverno conditions refuse ${refusal.name}, as the CUE rule ${refusal.rule} does`, () => {
    const changed = refusedPredicate(refusal, acceptedPredicates());
    assert.match(
      kyvernoRefusal(typeOf(refusal.attestation), changed) ?? "admitted",
      new RegExp(`^rule ${refusal.rule}: `),
    );
  });
}

Deno.test("Kyverno conditions refuse a predicate without any field the CUE's *-fields rules require", () => {
  const accepted = acceptedPredicates();
  // JMESPath reads a missing field as null, and a source's `repository` is null where the clone
  // has no remote: the conditions read it only beside the root commit, which refuses alone.
  for (const missing of MISSING_FIELDS.filter(([, , path]) => !path.endsWith(".repository"))) {
    const [name, , path] = missing;
    const { predicate } = withoutField(missing, accepted[name as keyof typeof accepted]);
    assert.notEqual(kyvernoRefusal(typeOf(name), predicate), undefined, `${name} without ${path}`);
  }
});

Deno.test("Kyverno conditions read flags, never the grouped allow or deny, as the CUE", () => {
  const accepted = acceptedPredicates().permissions;
  // `allow` alone widened, or gone: admitted by both (the CUE under cosign admits it too).
  const widened = { ...accepted, allow: { all: ["*"], run: ["*"] } };
  const { allow: _a, deny: _d, ...bare } = accepted;
  assert.equal(kyvernoRefusal(typeOf("permissions"), widened), undefined);
  assert.equal(kyvernoRefusal(typeOf("permissions"), bare), undefined);
  assert.doesNotMatch(
    JSON.stringify(kyvernoConditions(PARAMS)),
    /keys\((allow|deny)\)|values\((allow|deny)\)|\b(allow|deny)\./,
  );
});

Deno.test("Kyverno verifies the key pair's signatures without the transparency log, as the release writes them (--no-tlog)", () => {
  const keys = JSON.stringify(kyvernoPolicy(PARAMS)).match(
    /"keys":\{[^{}]*(\{[^{}]*\}[^{}]*)*\}/g,
  )!;
  assert.ok(keys.length >= 2, "the image's attestor and each attestation's");
  for (const entry of keys.map((k) => JSON.parse(`{${k}}`).keys)) {
    assert.equal(entry.rekor?.ignoreTlog, true, JSON.stringify(entry));
    assert.equal(entry.ctlog?.ignoreSCT, true, JSON.stringify(entry));
  }
});
