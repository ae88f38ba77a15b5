/**
 * deploy/kubernetes proven offline (issue 12): rendered by `kubectl kustomize`, every object
 * valid against the Kubernetes schemas with no unknown field, the hardening rules held, and the
 * rendered Deployment run by podman (`podman kube play`) from the locally built image.
 *
 * Without kubectl or podman the tests are ignored with the reason and the command that enables
 * them; with CI=true (as .ci/run runs) they run anyway and fail, so CI cannot skip them.
 */
import assert from "node:assert/strict";
import {
  describe,
  HARDENING_RULES,
  hardeningProblems,
  kubectlVersion,
  type KubeObject,
  render,
  validateObject,
} from "./_kubernetes.ts";
import { podmanRound, podmanSkipReason } from "./_podman.ts";
import { requiredTest } from "./_container.ts";
import { CONFIG_VARIABLES, parseConfig } from "../config/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BASE = `${ROOT}deploy/kubernetes`;
const OVERLAY = `${ROOT}deploy/kubernetes/overlays/production`;

const KUBECTL = await kubectlVersion();
const KUBECTL_SKIP = KUBECTL ? undefined : "kubectl not found; install kubectl 1.32 (it bundles " +
  "kustomize 5.5; Debian's kubernetes-client 1.20 is too old) from the Kubernetes release " +
  "packages, then: deno test --allow-all tests/kubernetes_test.ts";

const rendered = new Map<string, Promise<KubeObject[]>>();
function renderOnce(dir: string): Promise<KubeObject[]> {
  let objects = rendered.get(dir);
  if (!objects) rendered.set(dir, objects = render(dir));
  return objects;
}

const KINDS = [
  "ConfigMap",
  "Deployment",
  "HorizontalPodAutoscaler",
  "NetworkPolicy",
  "PodDisruptionBudget",
  "Service",
  "ServiceAccount",
];

requiredTest(
  "kubectl kustomize renders the base and the production overlay",
  KUBECTL_SKIP,
  async () => {
    const base = await renderOnce(BASE);
    const overlay = await renderOnce(OVERLAY);
    assert.deepEqual(base.map((object) => object.kind).sort(), KINDS);
    assert.deepEqual(overlay.map((object) => object.kind).sort(), KINDS);
    for (const object of [...base, ...overlay]) {
      assert.equal(
        object.metadata.labels?.["app.kubernetes.io/name"],
        "swft",
        `${describe(object)} has the app label`,
      );
    }
    // The overlay adapts what it says it does, and keeps the rest.
    const deployment = (objects: KubeObject[]) => objects.find((o) => o.kind === "Deployment")!;
    const config = (objects: KubeObject[]) => objects.find((o) => o.kind === "ConfigMap")!;
    assert.equal(deployment(overlay).spec.replicas, 3);
    assert.equal(config(overlay).data.CUSTOM_MESSAGE, "SWFT in production");
    assert.equal(config(overlay).data.METRICS, "prometheus");
    assert.equal(
      deployment(overlay).spec.template.metadata.annotations["prometheus.io/path"],
      "/metrics",
    );
    assert.equal(config(overlay).data.SHUTDOWN_DELAY_MS, config(base).data.SHUTDOWN_DELAY_MS);
    assert.notEqual(
      deployment(overlay).spec.template.spec.containers[0].resources.limits.memory,
      deployment(base).spec.template.spec.containers[0].resources.limits.memory,
    );
  },
);

for (const [name, dir] of [["base", BASE], ["production overlay", OVERLAY]]) {
  requiredTest(
    `kubernetes ${name}: every object matches its schema with no unknown field`,
    KUBECTL_SKIP,
    async () => {
      const objects = await renderOnce(dir);
      assert.deepEqual(objects.flatMap(validateObject), []);
    },
  );

  requiredTest(`kubernetes ${name}: the server accepts its variables`, KUBECTL_SKIP, async () => {
    const objects = await renderOnce(dir);
    const container = deploymentOf(objects).spec.template.spec.containers[0];
    const env: Record<string, string> = { ...objects.find((o) => o.kind === "ConfigMap")!.data };
    for (const variable of container.env) env[variable.name] = variable.value ?? "pod-name";
    // A misspelt name would be ignored silently by the server: every name must be one it reads.
    const known = new Set<string>(CONFIG_VARIABLES);
    assert.deepEqual(Object.keys(env).filter((key) => !known.has(key)), []);
    const config = parseConfig(env);
    assert.equal(config.port, 8080);
    assert.equal(config.shutdownTimeoutMs, Number(env.SHUTDOWN_TIMEOUT_MS));
  });

  requiredTest(`kubernetes ${name}: the hardening rules hold`, KUBECTL_SKIP, async () => {
    assert.deepEqual(hardeningProblems(await renderOnce(dir)), []);
  });
}

requiredTest(
  "kubernetes schema check: a misspelt or mistyped field fails",
  KUBECTL_SKIP,
  async () => {
    const deployment = (await renderOnce(BASE)).find((object) => object.kind === "Deployment")!;
    const misspelt = structuredClone(deployment);
    misspelt.spec.template.spec.containers[0].securityContext.runAsNonRooot = true;
    assert.deepEqual(validateObject(misspelt), [
      "Deployment/swft: unknown field .spec.template.spec.containers[0].securityContext.runAsNonRooot",
    ]);
    const topLevel = { ...structuredClone(deployment), spec: { ...deployment.spec, replica: 2 } };
    assert.deepEqual(validateObject(topLevel), ["Deployment/swft: unknown field .spec.replica"]);
    const mistyped = structuredClone(deployment);
    mistyped.spec.replicas = "two";
    const problems = validateObject(mistyped);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^Deployment\/swft: .*\/spec\/replicas must be integer/);
    // Free-form maps (labels, resource quantities, ConfigMap data) are not unknown fields.
    const labelled = structuredClone(deployment);
    labelled.spec.template.metadata.labels["example.com/team"] = "web";
    labelled.spec.template.spec.containers[0].resources.limits["ephemeral-storage"] = "1Gi";
    assert.deepEqual(validateObject(labelled), []);
    assert.deepEqual(
      validateObject({ apiVersion: "v1", kind: "Secret", metadata: { name: "a" } }),
      ["Secret/a: no schema for v1 Secret"],
    );
  },
);

/** For each rule, a change to the rendered base that must break it. */
const BREAKS: Record<string, (objects: KubeObject[]) => void> = {
  "replicas": (o) => deploymentOf(o).spec.replicas = 1,
  "rolling-update": (o) => deploymentOf(o).spec.strategy.rollingUpdate.maxUnavailable = 1,
  "pod-security-context": (o) => delete podOf(o).securityContext.seccompProfile,
  "container-security-context": (o) =>
    podOf(o).containers[0].securityContext.readOnlyRootFilesystem = false,
  "no-service-account-token": (o) => podOf(o).automountServiceAccountToken = true,
  "probes": (o) => podOf(o).containers[0].readinessProbe.httpGet.path = "/health",
  "resources": (o) => delete podOf(o).containers[0].resources.limits.memory,
  "drain-timing": (o) => podOf(o).terminationGracePeriodSeconds = 10,
  "port-8080": (o) => podOf(o).containers[0].ports[0].containerPort = 80,
  "topology-spread": (o) => delete podOf(o).topologySpreadConstraints,
  "image-by-digest": (o) => podOf(o).containers[0].image = "registry.example/swft:1.0.0",
  "service-cluster-ip": (o) => o.find((x) => x.kind === "Service")!.spec.type = "NodePort",
  "pod-disruption-budget": (o) =>
    delete o.find((x) => x.kind === "PodDisruptionBudget")!.spec.maxUnavailable,
  "autoscaler-cpu": (o) =>
    o.find((x) => x.kind === "HorizontalPodAutoscaler")!.spec.metrics[0].resource.name = "memory",
  "network-policy": (o) => o.find((x) => x.kind === "NetworkPolicy")!.spec.egress = [{ to: [] }],
  "config-map": (o) => podOf(o).containers[0].envFrom = [],
};

function deploymentOf(objects: KubeObject[]): KubeObject {
  return objects.find((object) => object.kind === "Deployment")!;
}

function podOf(objects: KubeObject[]): KubeObject {
  return deploymentOf(objects).spec.template.spec;
}

requiredTest(
  "kubernetes hardening rules: each fails on a manifest that breaks it",
  KUBECTL_SKIP,
  async () => {
    const base = await renderOnce(BASE);
    assert.deepEqual(Object.keys(BREAKS).sort(), HARDENING_RULES.map((rule) => rule.id).sort());
    for (const rule of HARDENING_RULES) {
      const broken = structuredClone(base);
      BREAKS[rule.id](broken);
      const problem = rule.check(broken);
      assert.ok(problem, `rule ${rule.id} accepts a manifest that breaks it`);
      assert.deepEqual(
        hardeningProblems(broken).map((line) => line.split(":")[0]),
        [rule.id],
        `breaking ${rule.id} trips only ${rule.id}`,
      );
    }
  },
);

requiredTest(
  "kubernetes image: a released REGISTRY/REPO@sha256 reference fills the images entry",
  KUBECTL_SKIP,
  async () => {
    // What `kustomize edit set image swft=REFERENCE` writes into base/kustomization.yaml.
    const reference = `registry.example/team/swft@sha256:${"ab".repeat(32)}`;
    const [newName, digest] = reference.split("@");
    const dir = await Deno.makeTempDir({ prefix: "swft-k8s-test-" });
    try {
      await copyDir(`${BASE}/base`, dir);
      const file = `${dir}/kustomization.yaml`;
      const text = await Deno.readTextFile(file);
      const edited = text.replace(/newName: .*/, `newName: ${newName}`)
        .replace(/digest: .*/, `digest: ${digest}`);
      assert.notEqual(edited, text);
      await Deno.writeTextFile(file, edited);
      const deployment = deploymentOf(await render(dir));
      assert.equal(deployment.spec.template.spec.containers[0].image, reference);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function copyDir(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

const PODMAN_SKIP = KUBECTL_SKIP ?? await podmanSkipReason();

requiredTest(
  "kubernetes on podman: the rendered Deployment runs hardened and answers",
  PODMAN_SKIP,
  async () => {
    await podmanRound(await renderOnce(BASE));
  },
);
