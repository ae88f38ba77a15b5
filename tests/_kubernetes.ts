/**
 * Offline proofs for deploy/kubernetes: render with `kubectl kustomize`, validate every object
 * against the Kubernetes OpenAPI schemas (precompiled by `kubernetes-models`) with an
 * unknown-field check on top, and the hardening rules of issue 12 as data.
 *
 * Tooling only: the npm packages are imported by inline specifiers, so they stay out of
 * deno.json's imports and the image's npm layer.
 *
 * @module
 */
// Inline npm: specifiers on purpose: deno.json's imports feed the image's npm layer, and these
// are test tooling only (their versions are pinned here and in deno.lock).
// deno-lint-ignore-file no-import-prefix
import process from "node:process";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import type {
  runValidateFunc as assertValid,
  ValidateFunc,
} from "npm:@kubernetes-models/validate@5.0.2";

/**
 * Runs `load` with Node's DEP0040 warning ("The `punycode` module is deprecated") dropped, and
 * only that one. Every schema imports @kubernetes-models/validate, whose formats load
 * ajv-formats-draft2019 and uri-js; both `require("punycode")` meaning the npm package they
 * depend on, but a bare "punycode" names Node's deprecated built-in first. No release of either
 * changes that (ajv-formats-draft2019 1.6.1 and @kubernetes-models/validate 5.0.2 are the
 * latest), so the warning is dropped here, where these test-only modules load, and nowhere else.
 */
async function withoutPunycodeWarning<T>(load: () => Promise<T>): Promise<T> {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    const options = rest[0] as { code?: string } | string | undefined;
    const code = typeof options === "object" ? options.code : rest[1];
    if (code === "DEP0040") return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await load();
  } finally {
    process.emitWarning = emitWarning;
  }
}

const [
  validateModule,
  { validate: configMap },
  { validate: service },
  { validate: serviceAccount },
  { validate: deployment },
  { validate: podDisruptionBudget },
  { validate: horizontalPodAutoscaler },
  { validate: networkPolicy },
  { validate: namespace },
  { validate: validatingAdmissionPolicy },
  { validate: validatingAdmissionPolicyBinding },
] = await withoutPunycodeWarning(() =>
  Promise.all([
    import("npm:@kubernetes-models/validate@5.0.2"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiCoreV1ConfigMap"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiCoreV1Service"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiCoreV1ServiceAccount"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiAppsV1Deployment"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiPolicyV1PodDisruptionBudget"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiNetworkingV1NetworkPolicy"),
    import("npm:kubernetes-models@5.1.0/_schemas/IoK8sApiCoreV1Namespace"),
    import(
      "npm:kubernetes-models@5.1.0/_schemas/IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicy"
    ),
    import(
      "npm:kubernetes-models@5.1.0/_schemas/IoK8sApiAdmissionregistrationV1ValidatingAdmissionPolicyBinding"
    ),
  ])
);
// An assertion function must be declared with its type to be called as one.
const runValidateFunc: typeof assertValid = validateModule.runValidateFunc;

/** A rendered Kubernetes object, as parsed from YAML. */
// deno-lint-ignore no-explicit-any
export type KubeObject = Record<string, any>;

/** The schema of every kind the manifests use, by `apiVersion/kind`. */
const SCHEMAS: Record<string, (data: unknown) => boolean> = {
  "v1/ConfigMap": configMap,
  "v1/Service": service,
  "v1/ServiceAccount": serviceAccount,
  "apps/v1/Deployment": deployment,
  "policy/v1/PodDisruptionBudget": podDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": horizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": networkPolicy,
  // The admission component's built-in kinds (tests/admission_test.ts).
  "v1/Namespace": namespace,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": validatingAdmissionPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding":
    validatingAdmissionPolicyBinding,
};

const decoder = new TextDecoder();

/** Whether `kubectl` runs here; its client version line, or undefined. */
export async function kubectlVersion(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("kubectl", {
      args: ["version", "--client"],
      stdin: "null",
    }).output();
    return output.success ? decoder.decode(output.stdout).split("\n")[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Render a kustomization directory with `kubectl kustomize` and parse every document. */
export async function render(dir: string): Promise<KubeObject[]> {
  const output = await new Deno.Command("kubectl", {
    args: ["kustomize", dir],
    stdin: "null",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot render ${dir}: kubectl kustomize: ${decoder.decode(output.stderr).trim()}`,
    );
  }
  return parseYaml(decoder.decode(output.stdout));
}

/** Parse a multi-document YAML stream into objects; a syntax error throws. */
export function parseYaml(text: string): KubeObject[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length) throw new Error(`Invalid YAML: ${document.errors[0].message}`);
    return document.toJS() as KubeObject;
  }).filter((value) => value !== null);
}

/** `Kind/name` of an object, for messages. */
export function describe(object: KubeObject): string {
  return `${object.kind}/${object.metadata?.name}`;
}

interface Visit {
  keys: string[];
  read: Set<string>;
  /** Enumerated as a whole: a map such as labels or resources.limits, whose keys are free. */
  map: boolean;
}

/**
 * A deep copy of `value` whose objects record which of their keys the validator reads.
 *
 * `kubernetes-models` compiles the OpenAPI schemas with ajv, which reads each property a schema
 * declares and enumerates only maps (`additionalProperties`); it never rejects an undeclared
 * key, which the API server's strict field validation would. A key no schema ever read is such
 * an undeclared key. No maintained offline validator for Deno does this, hence these lines.
 */
function watched(value: unknown, path: string, visits: Map<string, Visit>): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    return value.map((item, index) => watched(item, `${path}[${index}]`, visits));
  }
  const visit: Visit = { keys: Object.keys(value), read: new Set(), map: false };
  visits.set(path, visit);
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = watched(item, `${path}.${key}`, visits);
  }
  const note = (key: string | symbol) => typeof key === "string" && visit.read.add(key);
  return new Proxy(copy, {
    get: (target, key, receiver) => (note(key), Reflect.get(target, key, receiver)),
    has: (target, key) => (note(key), Reflect.has(target, key)),
    getOwnPropertyDescriptor: (
      target,
      key,
    ) => (note(key), Reflect.getOwnPropertyDescriptor(target, key)),
    ownKeys: (target) => ((visit.map = true), Reflect.ownKeys(target)),
  });
}

/**
 * Validate one object against its Kubernetes schema, then look for fields no schema declares.
 * Returns one line per problem; an empty list means valid.
 *
 * @example
 * ```ts
 * validateObject({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "a" }, bogus: 1 });
 * // ["ServiceAccount/a: unknown field .bogus"]
 * ```
 */
export function validateObject(object: KubeObject): string[] {
  return validateAgainst(object, SCHEMAS);
}

/**
 * {@linkcode validateObject} against other schemas by `apiVersion/kind`: custom resources (the
 * admission component's), compiled from their CRDs.
 */
export function validateAgainst(
  object: KubeObject,
  schemas: Record<string, (data: unknown) => boolean>,
): string[] {
  const schema = schemas[`${object.apiVersion}/${object.kind}`];
  if (!schema) return [`${describe(object)}: no schema for ${object.apiVersion} ${object.kind}`];
  const visits = new Map<string, Visit>();
  const data = watched(object, "", visits);
  try {
    runValidateFunc(schema as ValidateFunc<unknown>, data);
  } catch (error) {
    return [`${describe(object)}: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  for (const [path, visit] of visits) {
    if (visit.map) continue;
    for (const key of visit.keys) {
      if (!visit.read.has(key)) problems.push(`${describe(object)}: unknown field ${path}.${key}`);
    }
  }
  return problems;
}

/** A hardening rule of issue 12: what it requires, and a check that names what breaks it. */
export interface HardeningRule {
  /** The rule's id, named in failures. */
  id: string;
  /** Returns a problem line, or undefined when the objects comply. */
  check(objects: KubeObject[]): string | undefined;
}

function only(objects: KubeObject[], kind: string): KubeObject {
  const found = objects.filter((object) => object.kind === kind);
  if (found.length !== 1) throw new Error(`Expected one ${kind}, found ${found.length}`);
  return found[0];
}

function podSpec(objects: KubeObject[]): KubeObject {
  return only(objects, "Deployment").spec.template.spec;
}

function server(objects: KubeObject[]): KubeObject {
  return podSpec(objects).containers[0];
}

function env(objects: KubeObject[]): Record<string, string> {
  const values: Record<string, string> = { ...only(objects, "ConfigMap").data };
  for (const variable of server(objects).env ?? []) {
    if (variable.value !== undefined) values[variable.name] = variable.value;
  }
  return values;
}

function same(actual: unknown, expected: unknown, what: string): string | undefined {
  return JSON.stringify(actual) === JSON.stringify(expected)
    ? undefined
    : `${what} is ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`;
}

function first(...problems: (string | undefined)[]): string | undefined {
  return problems.find((problem) => problem !== undefined);
}

/** The rules, in the order of the issue; each is asserted on every rendered kustomization. */
export const HARDENING_RULES: readonly HardeningRule[] = [
  {
    id: "replicas",
    check: (objects) => {
      const replicas = only(objects, "Deployment").spec.replicas;
      return replicas >= 2 ? undefined : `Deployment replicas is ${replicas}, want 2 or more`;
    },
  },
  {
    id: "rolling-update",
    check: (objects) => {
      const strategy = only(objects, "Deployment").spec.strategy;
      return first(
        same(strategy?.type, "RollingUpdate", "strategy.type"),
        same(strategy?.rollingUpdate?.maxUnavailable, 0, "rollingUpdate.maxUnavailable"),
      );
    },
  },
  {
    id: "pod-security-context",
    check: (objects) => {
      const context = podSpec(objects).securityContext ?? {};
      return first(
        same(context.runAsNonRoot, true, "pod runAsNonRoot"),
        same(context.runAsUser, 65532, "pod runAsUser"),
        same(context.runAsGroup, 65532, "pod runAsGroup"),
        same(context.seccompProfile?.type, "RuntimeDefault", "pod seccompProfile.type"),
      );
    },
  },
  {
    id: "container-security-context",
    check: (objects) => {
      for (const container of podSpec(objects).containers) {
        const context = container.securityContext ?? {};
        const problem = first(
          same(context.runAsNonRoot, true, `${container.name} runAsNonRoot`),
          same(context.runAsUser, 65532, `${container.name} runAsUser`),
          same(context.runAsGroup, 65532, `${container.name} runAsGroup`),
          same(context.readOnlyRootFilesystem, true, `${container.name} readOnlyRootFilesystem`),
          same(
            context.allowPrivilegeEscalation,
            false,
            `${container.name} allowPrivilegeEscalation`,
          ),
          same(context.capabilities?.drop, ["ALL"], `${container.name} capabilities.drop`),
          same(context.capabilities?.add, undefined, `${container.name} capabilities.add`),
          same(context.privileged ?? false, false, `${container.name} privileged`),
          same(
            context.seccompProfile?.type,
            "RuntimeDefault",
            `${container.name} seccompProfile.type`,
          ),
        );
        if (problem) return problem;
      }
    },
  },
  {
    id: "no-service-account-token",
    check: (objects) =>
      first(
        same(
          podSpec(objects).automountServiceAccountToken,
          false,
          "pod automountServiceAccountToken",
        ),
        same(
          only(objects, "ServiceAccount").automountServiceAccountToken,
          false,
          "ServiceAccount automountServiceAccountToken",
        ),
      ),
  },
  {
    id: "probes",
    check: (objects) => {
      const container = server(objects);
      return first(
        same(container.readinessProbe?.httpGet?.path, "/ready", "readinessProbe.httpGet.path"),
        same(container.livenessProbe?.httpGet?.path, "/health", "livenessProbe.httpGet.path"),
        same(container.startupProbe?.httpGet?.path, "/health", "startupProbe.httpGet.path"),
      );
    },
  },
  {
    id: "resources",
    check: (objects) => {
      for (const container of podSpec(objects).containers) {
        for (const kind of ["requests", "limits"]) {
          for (const resource of ["cpu", "memory"]) {
            if (!container.resources?.[kind]?.[resource]) {
              return `${container.name} resources.${kind}.${resource} is not set`;
            }
          }
        }
      }
    },
  },
  {
    id: "drain-timing",
    check: (objects) => {
      const values = env(objects);
      const delay = Number(values.SHUTDOWN_DELAY_MS ?? 0);
      const timeout = Number(values.SHUTDOWN_TIMEOUT_MS ?? 5000);
      const grace = (podSpec(objects).terminationGracePeriodSeconds ?? 30) * 1000;
      if (!(grace > delay + timeout)) {
        return `terminationGracePeriodSeconds (${grace} ms) is not above SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS (${delay} + ${timeout} ms)`;
      }
      // The pod must leave the endpoints while the server still accepts.
      const probe = server(objects).readinessProbe ?? {};
      const unready = (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3) * 1000;
      if (unready > delay) {
        return `readiness needs up to ${unready} ms to fail, more than SHUTDOWN_DELAY_MS (${delay} ms)`;
      }
    },
  },
  {
    id: "port-8080",
    check: (objects) => {
      const container = server(objects);
      return first(
        same(env(objects).PORT, "8080", "PORT"),
        same(
          container.ports?.map((port: KubeObject) => port.containerPort),
          [8080],
          "containerPort",
        ),
      );
    },
  },
  {
    id: "topology-spread",
    check: (objects) => {
      const keys = (podSpec(objects).topologySpreadConstraints ?? []).map((c: KubeObject) =>
        c.topologyKey
      );
      return keys.includes("kubernetes.io/hostname")
        ? undefined
        : "no topologySpreadConstraint across nodes (kubernetes.io/hostname)";
    },
  },
  {
    id: "image-by-digest",
    check: (objects) => {
      const image = server(objects).image;
      return /^[^@\s]+@sha256:[0-9a-f]{64}$/.test(image)
        ? undefined
        : `image ${image} is not referenced by digest`;
    },
  },
  {
    id: "service-cluster-ip",
    check: (objects) => same(only(objects, "Service").spec.type, "ClusterIP", "Service type"),
  },
  {
    id: "pod-disruption-budget",
    check: (objects) => {
      const spec = only(objects, "PodDisruptionBudget").spec;
      return spec.maxUnavailable !== undefined || spec.minAvailable !== undefined
        ? undefined
        : "PodDisruptionBudget sets neither maxUnavailable nor minAvailable";
    },
  },
  {
    id: "autoscaler-cpu",
    check: (objects) => {
      const hpa = only(objects, "HorizontalPodAutoscaler");
      return first(
        same(hpa.apiVersion, "autoscaling/v2", "HorizontalPodAutoscaler apiVersion"),
        same(
          hpa.spec.scaleTargetRef?.name,
          only(objects, "Deployment").metadata.name,
          "HPA target",
        ),
        same(
          hpa.spec.metrics?.map((metric: KubeObject) => metric.resource?.name),
          ["cpu"],
          "HPA metrics",
        ),
      );
    },
  },
  {
    id: "network-policy",
    check: (objects) => {
      const spec = only(objects, "NetworkPolicy").spec;
      return first(
        same(spec.policyTypes, ["Ingress", "Egress"], "NetworkPolicy policyTypes"),
        same(spec.egress ?? [], [], "NetworkPolicy egress"),
        same(
          spec.ingress?.map((rule: KubeObject) => rule.ports),
          [[{ port: 8080, protocol: "TCP" }]],
          "NetworkPolicy ingress ports",
        ),
      );
    },
  },
  {
    id: "config-map",
    check: (objects) => {
      const name = only(objects, "ConfigMap").metadata.name;
      const refs = server(objects).envFrom?.map((source: KubeObject) => source.configMapRef?.name);
      return same(refs, [name], "envFrom configMapRef");
    },
  },
];

/** Every rule's problem on these objects, `id: problem`; empty when all hold. */
export function hardeningProblems(objects: KubeObject[]): string[] {
  return HARDENING_RULES.flatMap((rule) => {
    const problem = rule.check(objects);
    return problem ? [`${rule.id}: ${problem}`] : [];
  });
}
