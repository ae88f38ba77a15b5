/**
 * What the admission component makes the cluster enforce beyond the attestations (issue 23,
 * item 8): policy-controller's component labels the namespace it deploys to (its webhooks act
 * only in namespaces labelled `policy.sigstore.dev/include=true`), and the rule
 * `pod-entrypoint` refuses a Pod that sets `command` or `args` on a SWFT container, as a
 * Kyverno rule and as a ValidatingAdmissionPolicy. Neither controller nor an API server runs
 * here: the rules are rendered with kustomize, validated against their schemas, and evaluated
 * on attackers' Pods offline: the VAP's CEL with a CEL implementation (cel-js, not the API
 * server's cel-go), Kyverno's JMESPath with the JMESPath Community implementation
 * (tests/_jmespath.ts, not Kyverno's Go fork) after the rewrite Kyverno's autogen applies to a
 * Pod rule for workloads (pkg/autogen/v1/rule.go).
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- test tooling: kept out of deno.json's imports (image)
import { evaluate } from "npm:@marcbachmann/cel-js@8.0.0";
import { ROOT } from "../tasks/_lib/mod.ts";
import { clusterImagePolicy, kyvernoPolicy } from "../tasks/release/admission.ts";
import {
  ENTRYPOINT_RULE,
  entrypointImagePrefix,
  entrypointPolicy,
  kyvernoEntrypointRule,
} from "../tasks/release/admission_entrypoint.ts";
import { requiredTest } from "./_container.ts";
import { kyvernoSearch } from "./_jmespath.ts";
import { POLICY_PARAMS, POLICY_TEXT } from "./_policy.ts";
import {
  kubectlVersion,
  type KubeObject,
  parseYaml,
  render,
  validateObject,
} from "./_kubernetes.ts";

const KUBECTL_SKIP = await kubectlVersion() ? undefined : "kubectl not found; install kubectl 1.32";
const INCLUDE = "policy.sigstore.dev/include";

/** Renders base + `components` with the kustomization lines `extra`, in a throw-away overlay. */
async function renderWith(components: string[], extra = ""): Promise<KubeObject[]> {
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/deploy/kubernetes`, prefix: ".admission-" });
  try {
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + extra +
        `resources: [../base]\ncomponents: [${components.join(", ")}]\n`,
    );
    return await render(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

requiredTest(
  "admission (policy-controller): the namespace its objects are in is created and labelled policy.sigstore.dev/include=true",
  KUBECTL_SKIP,
  async () => {
    for (
      const [component, extra, expected] of [
        ["../components/admission/policy-controller", "", "swft"],
        ["../components/admission/policy-controller", "namespace: prod\n", "prod"],
        ["../components/admission", "namespace: prod\n", "prod"],
      ]
    ) {
      const objects = await renderWith([component], extra);
      const namespaces = objects.filter((o) => o.kind === "Namespace");
      assert.deepEqual(namespaces.map((n) => n.metadata.name), [expected], `${component} ${extra}`);
      assert.equal(namespaces[0].metadata.labels?.[INCLUDE], "true", "labelled");
      const deployment = objects.find((o) => o.kind === "Deployment")!;
      assert.equal(deployment.metadata.namespace, expected, "the Deployment is in it");
      for (const object of objects) {
        const ns = object.metadata.namespace;
        assert.ok(ns === undefined || ns === expected, `${object.kind} in ${ns}`);
      }
    }
  },
);

requiredTest(
  "admission (policy-controller): the Namespace, ValidatingAdmissionPolicy and binding validate against Kubernetes' schemas, no unknown field",
  KUBECTL_SKIP,
  async () => {
    const objects = await renderWith(["../components/admission/policy-controller"]);
    const kinds = ["Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];
    for (const kind of kinds) {
      const object = objects.find((o) => o.kind === kind);
      assert.ok(object, `a ${kind}`);
      // kustomize gives every object the namespace (it does not know these kinds are
      // cluster-scoped; the API server drops it): the schema has the field, so it passes.
      assert.deepEqual(validateObject(object), [], kind);
    }
    const policy = structuredClone(objects.find((o) => o.kind === kinds[1])!);
    policy.spec.validations[0].mesageExpression = policy.spec.validations[0].messageExpression;
    assert.match(validateObject(policy).join("\n"), /unknown field .*\.mesageExpression/);
  },
);

Deno.test("admission (policy-controller): the ClusterImagePolicy refuses (mode enforce), it does not only warn", () => {
  const cip = clusterImagePolicy(POLICY_TEXT, POLICY_PARAMS) as KubeObject;
  assert.equal(cip.spec.mode, "enforce");
});

Deno.test("admission (Kyverno): every rule matches Pods only and no names, so autogen covers workloads", () => {
  // Kyverno's autogen is all or nothing for a policy (pkg/autogen/v1/autogen.go, CanAutoGen):
  // one rule naming a resource or another kind would leave Deployments unchecked.
  const policy = kyvernoPolicy(POLICY_PARAMS) as KubeObject;
  assert.ok(!policy.metadata.annotations?.["pod-policies.kyverno.io/autogen-controllers"]);
  const rules: KubeObject[] = policy.spec.rules;
  assert.ok(rules.some((r) => r.name === "swft-entrypoint"), "the entry-point rule");
  for (const rule of rules) {
    assert.deepEqual(rule.match, { any: [{ resources: { kinds: ["Pod"] } }] }, rule.name);
    assert.equal(rule.exclude, undefined, rule.name);
  }
});

// ---- the rule pod-entrypoint on attackers' Pods --------------------------------------------

const IMAGE = `${entrypointImagePrefix()}@sha256:${"a".repeat(64)}`;
const DENO_RUN_A = ["/usr/bin/deno", "run", "-A", "/app/main.ts"];

/** The base's Deployment, as shipped, running a SWFT image. */
function shippedDeployment(): KubeObject {
  const text = Deno.readTextFileSync(`${ROOT}/deploy/kubernetes/base/deployment.yaml`);
  const deployment = parseYaml(text)[0];
  for (const c of deployment.spec.template.spec.containers) c.image = IMAGE;
  return deployment;
}

/** The Pod the Deployment's template makes. */
function podOf(deployment: KubeObject): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "swft-x" },
    spec: structuredClone(deployment.spec.template.spec),
  };
}

/** A case: an object as an attacker (or a user) submits it, and whether the rule refuses it. */
type PodCase = [name: string, make: () => KubeObject, refused: boolean];

const server = (o: KubeObject) => o.spec.template.spec.containers[0];
const CASES: PodCase[] = [
  ["the shipped Deployment", shippedDeployment, false],
  ["the shipped Deployment's Pod", () => podOf(shippedDeployment()), false],
  ["a Deployment whose container runs `deno run -A` (command)", () => {
    const d = shippedDeployment();
    server(d).command = DENO_RUN_A;
    return d;
  }, true],
  ["a Deployment that sets args only", () => {
    const d = shippedDeployment();
    server(d).args = ["run", "-A", "/app/main.ts"];
    return d;
  }, true],
  ["a bare Pod running `deno run -A`", () => {
    const p = podOf(shippedDeployment());
    p.spec.containers[0].command = DENO_RUN_A;
    return p;
  }, true],
  ["an init container on the SWFT image with a command", () => {
    const d = shippedDeployment();
    d.spec.template.spec.initContainers = [{ name: "init", image: IMAGE, command: DENO_RUN_A }];
    return d;
  }, true],
  ["an ephemeral debug container on the SWFT image (`deno repl -A`)", () => {
    const p = podOf(shippedDeployment());
    p.spec.ephemeralContainers = [{
      name: "debug",
      image: IMAGE,
      command: ["/usr/bin/deno", "repl", "-A"],
    }];
    return p;
  }, true],
  ["a CronJob whose job runs `deno run -A`", () => {
    const template = structuredClone(shippedDeployment().spec.template);
    template.spec.containers[0].command = DENO_RUN_A;
    template.spec.restartPolicy = "Never";
    return {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "swft" },
      spec: { schedule: "* * * * *", jobTemplate: { spec: { template } } },
    };
  }, true],
  ["a ReplicationController whose container runs `deno run -A`", () => {
    const template = structuredClone(shippedDeployment().spec.template);
    template.spec.containers[0].command = DENO_RUN_A;
    return {
      apiVersion: "v1",
      kind: "ReplicationController",
      metadata: { name: "swft" },
      spec: { replicas: 1, template },
    };
  }, true],
  ["a sidecar on another image with a command, beside the untouched SWFT container", () => {
    const d = shippedDeployment();
    d.spec.template.spec.containers.push({ name: "tail", image: "busybox", command: ["sh"] });
    return d;
  }, false],
];

/**
 * The VAP's verdict as the API server reaches it: only for a resource its match constraints
 * name (the kinds here are plural by an `s`), then the variables in order, then each validation.
 */
function vapRefusal(object: KubeObject): string | undefined {
  const policy = entrypointPolicy()[0] as KubeObject;
  const [group, version] = object.apiVersion.includes("/")
    ? object.apiVersion.split("/")
    : ["", object.apiVersion];
  const resource = `${object.kind.toLowerCase()}s`;
  const matched = policy.spec.matchConstraints.resourceRules.some((r: KubeObject) =>
    r.apiGroups.includes(group) && r.apiVersions.includes(version) &&
    r.resources.includes(resource) && r.operations.includes("CREATE")
  );
  if (!matched) return undefined;
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec.variables) {
    variables[v.name] = evaluate(v.expression, { object, variables });
  }
  for (const validation of policy.spec.validations) {
    if (evaluate(validation.expression, { object, variables }) !== true) {
      return evaluate(validation.messageExpression, { object, variables }) as string;
    }
  }
  return undefined;
}

/**
 * Kyverno's verdict: the rule autogen applies to the object's kind (for a workload, the Pod
 * rule with Kyverno's own textual rewrite of `request.object.spec`, pkg/autogen/v1/rule.go
 * podReplacementRules / cronJobReplacementRules), its deny conditions' `{{ }}` as JMESPath over
 * the admission request; `any`: refused when one holds. Only `GreaterThan` is used.
 */
function kyvernoRefusal(object: KubeObject): string | undefined {
  const template = object.kind === "CronJob"
    ? "request.object.spec.jobTemplate.spec.template.spec"
    : object.kind === "Pod"
    ? "request.object.spec"
    : "request.object.spec.template.spec";
  const rule = JSON.parse(
    JSON.stringify(kyvernoEntrypointRule()).replaceAll("request.object.spec", template),
  );
  const context = { request: { object, operation: "CREATE" } };
  const holds = (c: KubeObject) => {
    assert.equal(c.operator, "GreaterThan", "the only operator modelled");
    const key = kyvernoSearch(context, c.key.replace(/^\{\{(.*)\}\}$/s, "$1").trim());
    return (key as number) > c.value;
  };
  return rule.validate.deny.conditions.any.some(holds) ? rule.validate.message : undefined;
}

for (const [name, make, refused] of CASES) {
  Deno.test(`rule ${ENTRYPOINT_RULE}: ${name} is ${refused ? "refused" : "admitted"} by the VAP and by Kyverno`, () => {
    const object = make();
    for (
      const [controller, verdict] of [["VAP", vapRefusal], ["Kyverno", kyvernoRefusal]] as const
    ) {
      const refusal = verdict(object);
      if (refused) {
        assert.match(refusal ?? "admitted", new RegExp(`^rule ${ENTRYPOINT_RULE}: `), controller);
        assert.doesNotMatch(refusal!, /\n/, `${controller}: one line`);
      } else {
        assert.equal(refusal, undefined, controller);
      }
    }
  });
}

Deno.test(`rule ${ENTRYPOINT_RULE}: the VAP's refusal names the container`, () => {
  const d = shippedDeployment();
  server(d).command = DENO_RUN_A;
  assert.equal(
    vapRefusal(d),
    `rule ${ENTRYPOINT_RULE}: container server sets command or args on a SWFT image; remove them (a SWFT image runs only its attested ENTRYPOINT and CMD; docs/kubernetes.md)`,
  );
});
