/**
 * How the deploy files set the documented variables: the values .env.example and the
 * Kubernetes ConfigMap set, and the lists that leave a variable out, with the reason.
 * `deno task generate` writes .env.example, compose.yaml's environment and the ConfigMap from
 * these and the schema; a new variable appears in each list unless it is left out here.
 *
 * @module
 */

/** A deploy list `deno task generate` writes from the schema. */
export type DeployList = "envFile" | "compose" | "configMap";

const BY_THE_IMAGE = "the image sets it from its REVISION build argument";

/** Where a list leaves a documented variable out on purpose, and why. */
export const LEFT_OUT: Readonly<Record<DeployList, Readonly<Record<string, string>>>> = {
  envFile: { SWFT_REVISION: BY_THE_IMAGE },
  compose: {
    PORT: "the image listens on 80, which `ports:` publishes",
    HOST: "the image listens on every address",
    HOSTNAME: "Docker sets it to the container ID",
    SWFT_REVISION: BY_THE_IMAGE,
  },
  configMap: {
    PORT: "the Deployment sets it: the Service and probes depend on it",
    HOSTNAME: "the Deployment sets it to the pod's name",
    SWFT_REVISION: BY_THE_IMAGE,
    TZ: "read by the runtime, not the server (tests/kubernetes_test.ts admits only the server's)",
  },
};

/**
 * What .env.example sets (what `cp .env.example .env` gives: the README's picture); every
 * other variable is there commented out at its default.
 */
export const ENV_FILE_VALUES: Readonly<Record<string, string>> = {
  HOST: "0.0.0.0",
  BACKGROUND_COLOR: "steelblue",
  CUSTOM_MESSAGE: "SWFT Demo",
  LOG_LEVEL: "info",
  LOG_FORMAT: "auto",
  SHUTDOWN_TIMEOUT_MS: "5000",
  SHUTDOWN_DELAY_MS: "0",
  METRICS: "off",
};

/**
 * What the Kubernetes ConfigMap sets; every other variable it holds is empty (the server's
 * default). SHUTDOWN_DELAY_MS and SHUTDOWN_TIMEOUT_MS drain a pod (docs/kubernetes.md).
 */
export const CONFIG_MAP_VALUES: Readonly<Record<string, string>> = {
  HOST: "0.0.0.0",
  BACKGROUND_COLOR: "white",
  CUSTOM_MESSAGE: "SWFT Demo",
  LOG_LEVEL: "info",
  LOG_FORMAT: "json",
  METRICS: "off",
  SHUTDOWN_DELAY_MS: "5000",
  SHUTDOWN_TIMEOUT_MS: "10000",
};
