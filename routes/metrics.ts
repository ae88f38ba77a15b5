/**
 * Prometheus metrics, opt-in with `METRICS=prometheus`: {@linkcode createMetrics} imports
 * `prom-client` only then, so with metrics off the request path is unchanged. Labels are route
 * patterns and standard methods, so no client can grow the number of series; the series are
 * listed in docs/operations.md ("Metrics").
 *
 * @module
 */

/** Label of requests that matched no route. */
export const UNMATCHED_ROUTE = "unmatched";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT"]);

/** The recorder the app calls; see {@linkcode createMetrics}. */
export interface Metrics {
  /**
   * Call when a request starts; returns the function to call with its answer. Without a
   * status, the request only leaves the in-flight gauge (it is answered, and counted, elsewhere).
   */
  start(): (method: string, route: string, status?: number) => void;
  /** The exposition: a body and its content type. */
  render(): Promise<{ body: string; contentType: string }>;
}

/** What {@linkcode createMetrics} reports in `swft_build_info`. */
export interface BuildInfo {
  /** The version of the app that runs. */
  version: string;
  /** The source revision (such as a commit), or `unknown`. */
  revision: string;
}

/** Duration buckets in seconds: this server answers in well under a millisecond. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/**
 * Load `prom-client` and create the server's metrics in a registry of their own.
 *
 * @example
 * ```ts
 * const metrics = await createMetrics({ version: "1.0.0", revision: "unknown" });
 * const done = metrics.start();
 * done("GET", "/health", 200);
 * console.log((await metrics.render()).body);
 * ```
 */
export async function createMetrics(build: BuildInfo): Promise<Metrics> {
  const client = await import("prom-client");
  const registry = new client.Registry();
  const labelNames = ["method", "route", "status"] as const;
  const requests = new client.Counter({
    name: "http_requests_total",
    help: "Requests answered, by method, route pattern and status",
    labelNames,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: "http_request_duration_seconds",
    help: "Time from receiving a request to its response being ready, in seconds",
    labelNames,
    buckets: [...DURATION_BUCKETS],
    registers: [registry],
  });
  const inFlight = new client.Gauge({
    name: "http_requests_in_flight",
    help: "Requests being answered now",
    registers: [registry],
  });
  new client.Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch, in seconds",
    registers: [registry],
  }).set(Math.round(performance.timeOrigin) / 1000);
  new client.Gauge({
    name: "swft_build_info",
    help: "Always 1; the labels say which build is running",
    labelNames: ["version", "revision", "deno"],
    registers: [registry],
  }).set({ version: build.version, revision: build.revision, deno: Deno.version.deno }, 1);

  return {
    start() {
      const began = performance.now();
      inFlight.inc();
      return (method, route, status) => {
        inFlight.dec();
        if (status === undefined) return;
        const labels = {
          method: METHODS.has(method) ? method : "other",
          route,
          status: String(status),
        };
        requests.inc(labels);
        duration.observe(labels, (performance.now() - began) / 1000);
      };
    },
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
