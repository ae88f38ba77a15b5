/**
 * The rule `pod-entrypoint` of the admission component: a Pod (or a workload's pod template)
 * may not set `command` or `args` on a container that runs a SWFT image. The attestations
 * describe the image's ENTRYPOINT and CMD; a Pod that overrides them runs something else (the
 * `runtime-deno` image started as `deno run -A /app/main.ts`), which no attestation covers and
 * which the release cannot see. Two forms, one rule:
 *
 * - Kyverno: a `validate.deny` rule in the ClusterPolicy, matching Pods only, so that Kyverno's
 *   autogen writes the variants for Deployments, StatefulSets, DaemonSets, Jobs, ReplicaSets,
 *   ReplicationControllers and CronJobs (it rewrites `request.object.spec` to the template's);
 * - policy-controller users: a `ValidatingAdmissionPolicy` and its binding (Kubernetes 1.30 or
 *   later), evaluated by the API server itself (policy-controller reads only image references).
 *
 * @module
 */
import { PLACEHOLDERS } from "./admission.ts";

/** The rule's name in refusals: `rule pod-entrypoint: ...`. */
export const ENTRYPOINT_RULE = "pod-entrypoint";

/** A pod spec's lists of containers, each of which may override the image's command. */
const CONTAINER_LISTS = ["containers", "initContainers", "ephemeralContainers"] as const;

/** What a refusal tells the user to do. */
const FIX =
  "remove them (a SWFT image runs only its attested ENTRYPOINT and CMD; docs/kubernetes.md)";

/**
 * The images the rule guards: the images placeholder's prefix (its trailing `*` dropped). A
 * function, not a constant: this module and admission.ts import each other.
 */
export function entrypointImagePrefix(): string {
  return PLACEHOLDERS.images.replace(/\*$/, "");
}

/**
 * The JMESPath (Kyverno) that lists the containers of `spec` on a SWFT image that set command
 * or args: containers, init containers and ephemeral containers. JMESPath reads an empty list
 * as false, as Kubernetes does an empty `command`.
 */
export function overridingContainers(spec: string): string {
  const lists = CONTAINER_LISTS.map((l) => `${spec}.${l} || \`[]\``).join(", ");
  return `[${lists}][] | [?starts_with(image, '${entrypointImagePrefix()}') && (command || args)]`;
}

/** The Kyverno rule (one more entry of the ClusterPolicy's `rules`). */
export function kyvernoEntrypointRule(): unknown {
  return {
    name: "swft-entrypoint",
    // Pods only, no name or selector: Kyverno's autogen covers the pod controllers.
    match: { any: [{ resources: { kinds: ["Pod"] } }] },
    validate: {
      message: `rule ${ENTRYPOINT_RULE}: a container on a SWFT image sets command or args; ${FIX}`,
      deny: {
        conditions: {
          any: [{
            key: `{{ length(${overridingContainers("request.object.spec")}) }}`,
            operator: "GreaterThan",
            value: 0,
          }],
        },
      },
    },
  };
}

/**
 * The ValidatingAdmissionPolicy and its binding, for clusters that run policy-controller. Pods
 * are what runs; the workload kinds are refused too, so that a Deployment fails when it is
 * applied rather than when its ReplicaSet makes Pods.
 */
export function entrypointPolicy(): unknown[] {
  const rules = [
    ["", ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]],
    ["apps", ["deployments", "replicasets", "statefulsets", "daemonsets"]],
    ["batch", ["jobs", "cronjobs"]],
  ] as const;
  const overriding = CONTAINER_LISTS
    .map((l) => `(has(variables.pod.${l}) ? variables.pod.${l} : [])`).join(" + ");
  return [{
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: "swft-entrypoint" },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: {
        resourceRules: rules.map(([group, resources]) => ({
          apiGroups: [group],
          apiVersions: ["v1"],
          operations: ["CREATE", "UPDATE"],
          resources: [...resources],
        })),
      },
      variables: [
        {
          name: "pod",
          expression: "object.kind == 'Pod' ? object.spec : object.kind == 'CronJob' ? " +
            "object.spec.jobTemplate.spec.template.spec : object.spec.template.spec",
        },
        {
          name: "overriding",
          expression: `(${overriding}).filter(c, c.image.startsWith('${entrypointImagePrefix()}')` +
            " && (has(c.command) || has(c.args))).map(c, c.name)",
        },
      ],
      validations: [{
        expression: "size(variables.overriding) == 0",
        messageExpression: `'rule ${ENTRYPOINT_RULE}: container ' + ` +
          `variables.overriding.join(', ') + ' sets command or args on a SWFT image; ${FIX}'`,
        reason: "Forbidden",
      }],
    },
  }, {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: "swft-entrypoint" },
    spec: { policyName: "swft-entrypoint", validationActions: ["Deny"] },
  }];
}
