/**
 * The SWFT server's entry point.
 *
 * - `deno task start` (or `main.ts serve`): read the configuration, serve, and on SIGTERM or
 *   SIGINT stop accepting, let in-flight requests finish and exit 0.
 * - `main.ts healthcheck`: exit 0 when the server on the configured port is healthy, else 1.
 *   The container image's HEALTHCHECK runs this, as the runtime has neither shell nor curl.
 *
 * Only wiring lives here: environment -> Config -> createApp(Config) -> Deno.serve.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import { type Config, ConfigError, parseConfig, readEnv } from "./config.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createApp } from "./routes/mod.ts";
import { createMetrics, type Metrics } from "./routes/metrics.ts";
import { checkHealth, localHost, startServer, withAccessLog } from "./server.ts";

/** The version users see in the startup line and `--version`. */
export const VERSION: string = denoJson.version;

function loadConfig(): Config | null {
  try {
    return parseConfig(readEnv());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`Cannot start server: ${problem}`);
    return null;
  }
}

function createProcessLogger(config: Config): Logger {
  const format = config.logFormat === "auto"
    ? (Deno.stdout.isTerminal() ? "pretty" : "json")
    : config.logFormat;
  return createLogger({ level: config.logLevel, format });
}

/**
 * The source revision for the metrics' build info: SWFT_REVISION (the image sets it from its
 * REVISION build argument) when set and readable, else "unknown".
 */
function buildRevision(): string {
  const granted = Deno.permissions.querySync({ name: "env", variable: "SWFT_REVISION" });
  const value = granted.state === "granted" ? Deno.env.get("SWFT_REVISION") : undefined;
  return value && /^[\w.+-]{1,64}$/.test(value) ? value : "unknown";
}

async function serve(config: Config): Promise<number> {
  const logger = createProcessLogger(config);
  globalThis.addEventListener("unload", () => logger.flush());
  // Loaded only when asked for: with metrics off, prom-client is never imported.
  let metrics: Metrics | undefined;
  if (config.metrics === "prometheus") {
    metrics = await createMetrics({ version: VERSION, revision: buildRevision() });
  }
  const app = createApp(config, {
    metrics,
    warn: (message, fields) => logger.warn(message, fields),
    onError: (error, request) =>
      logger.error("request failed", {
        path: new URL(request.url).pathname,
        error: error instanceof Error ? error.stack ?? error.message : String(error),
      }),
  });
  // Listen for signals before announcing the server: a supervisor may stop it at once.
  const { promise: signalled, resolve } = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  for (const signal of signals) Deno.addSignalListener(signal, () => resolve(signal));
  let server;
  try {
    server = await startServer(withAccessLog(app.fetch, logger), {
      port: config.port,
      host: config.host,
      logger,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`Cannot start server: cannot listen on ${config.host}:${config.port}: ${reason}`);
    return 1;
  }
  logger.info("listening", {
    address: `http://${localHost(config.host)}:${server.addr.port}`,
    host: server.addr.hostname,
    port: server.addr.port,
    version: VERSION,
    deno: Deno.version.deno,
    pid: Deno.pid,
    config: config.sources.length ? `environment (${config.sources.join(", ")})` : "defaults",
  });
  logger.flush();

  const signal = await signalled;
  logger.info("shutting down", { signal, inFlight: server.inFlight });
  const drained = await server.shutdown();
  if (drained) logger.info("stopped");
  else {
    logger.warn("shutdown timed out, requests were cut off", {
      inFlight: server.inFlight,
      timeoutMs: config.shutdownTimeoutMs,
    });
  }
  logger.flush();
  return drained ? 0 : 1;
}

async function healthcheck(config: Config): Promise<number> {
  const problem = await checkHealth(`http://${localHost(config.host)}:${config.port}`);
  if (problem) {
    console.error(`Unhealthy: ${problem}`);
    return 1;
  }
  return 0;
}

const USAGE = `Usage: main.ts [serve|healthcheck|--version|--help]

  serve        Serve the SWFT page (default)
  healthcheck  Exit 0 when the server on PORT answers /health, else 1

Configuration comes from the environment: PORT, HOST, BACKGROUND_COLOR, CUSTOM_MESSAGE,
HOSTNAME, LOG_LEVEL, LOG_FORMAT, SHUTDOWN_TIMEOUT_MS, METRICS (see README.md).`;

/** Run the command named by `args`; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const command = args[0] ?? "serve";
  if (command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (command === "--version" || command === "-V") {
    console.log(`swft ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  if (command !== "serve" && command !== "healthcheck") {
    console.error(`Unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  if (!config) return 1;
  return command === "serve" ? await serve(config) : await healthcheck(config);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
