/**
 * The SWFT server's entry point.
 *
 * - `deno task start` (or `main.ts serve`): read the configuration, serve, and on SIGTERM or
 *   SIGINT answer `/ready` with 503, keep accepting for SHUTDOWN_DELAY_MS, then stop
 *   accepting, let running handlers finish and exit 0 (1 when they outlast
 *   SHUTDOWN_TIMEOUT_MS).
 * - `main.ts healthcheck`: exit 0 when the server on the configured port is healthy, else 1.
 *   The container image's HEALTHCHECK runs this, as the runtime has neither shell nor curl.
 *
 * Only wiring lives here: environment -> Config -> createApp(Config) -> Deno.serve. The
 * serve path's modules (Hono, Eta, zod) are imported only by `serve`, so the healthcheck,
 * which the image runs every 30 s beside the server, stays small.
 *
 * @module
 */
import denoJson from "./deno.json" with { type: "json" };
import { ConfigError, type Env, quoteValue, readVariables } from "./_env.ts";

/** A map of environment variables, as `Deno.env.get` would return them. */
export type { Env } from "./_env.ts";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { Handler, RunningServer } from "./server.ts";
import { checkHealth, localHost } from "./_healthcheck.ts";

/** The version users see in the startup line and `--version`. */
export const VERSION: string = denoJson.version;

/**
 * How long the exit waits for the last log lines, at most and at least: what is left, within
 * these, of SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS from the first stop signal, so that a
 * stalled stdout cannot hold the process past them (a healthy one takes well under a
 * millisecond).
 */
const LOG_DRAIN_MS = { max: 1000, min: 100 };

/** Below this open-files limit the start-up log warns: each connection holds one descriptor. */
const LOW_NOFILE = 4096;

/** The signals that stop the server. */
const STOP_SIGNALS: Deno.Signal[] = ["SIGTERM", "SIGINT"];

async function loadConfig(): Promise<Config | null> {
  const { parseConfig, readEnv, readMemoryLimit } = await import("./config.ts");
  try {
    return parseConfig(readEnv(), { memoryLimit: await readMemoryLimit() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`Cannot start server: ${problem}`);
    return null;
  }
}

async function createProcessLogger(config: Config): Promise<Logger> {
  const { createLogger } = await import("./logger.ts");
  const format = config.logFormat === "auto"
    ? (Deno.stdout.isTerminal() ? "pretty" : "json")
    : config.logFormat;
  return createLogger({ level: config.logLevel, format });
}

/**
 * The soft limit on open files, from /proc/self/limits; `undefined` where that cannot be
 * read: not Linux, or not permitted, as Deno lets only `--allow-all` read /proc/self, which
 * the start task does not grant (running out is then logged when it happens).
 */
function openFilesLimit(): number | undefined {
  const path = "/proc/self/limits";
  // Asking first: reading unpermitted would prompt on a terminal.
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return undefined;
  try {
    const limits = Deno.readTextFileSync(path);
    const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/** What the app reads of the process's state while it serves. */
interface ServeState {
  /** False from the first stop signal on: `/ready` answers 503. */
  ready: boolean;
}

/** The app with its access log, metrics only when asked for (prom-client is loaded only then). */
async function buildHandler(config: Config, logger: Logger, state: ServeState): Promise<Handler> {
  const [{ createApp }, { withAccessLog }] = await Promise.all([
    import("./routes/mod.ts"),
    import("./server.ts"),
  ]);
  let metrics;
  if (config.metrics === "prometheus") {
    const { createMetrics } = await import("./routes/metrics.ts");
    metrics = await createMetrics({ version: VERSION, revision: config.revision });
  }
  const app = createApp(config, {
    metrics,
    ready: () => state.ready,
    warn: (message, fields) => logger.warn(message, fields),
    onError: (error, request) =>
      logger.error("request failed", {
        path: new URL(request.url).pathname,
        error: error instanceof Error ? error.stack ?? error.message : String(error),
      }),
  });
  return withAccessLog(app.fetch, logger);
}

/**
 * Listen for the stop signals; the function returned resolves at the next one. Installed
 * before the server is announced, as a supervisor may stop it at once.
 */
function listenForStopSignals(): () => Promise<Deno.Signal> {
  let next = Promise.withResolvers<Deno.Signal>();
  for (const signal of STOP_SIGNALS) {
    Deno.addSignalListener(signal, () => {
      const current = next;
      next = Promise.withResolvers<Deno.Signal>();
      current.resolve(signal);
    });
  }
  return () => next.promise;
}

/** Start listening; `null` (with the reason on stderr) when the address cannot be bound. */
async function listen(
  config: Config,
  handler: Handler,
  logger: Logger,
): Promise<RunningServer | null> {
  const { startServer } = await import("./server.ts");
  try {
    return await startServer(handler, {
      port: config.port,
      host: config.host,
      logger,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      maxConnections: config.maxConnections,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`Cannot start server: cannot listen on ${config.host}:${config.port}: ${reason}`);
    return null;
  }
}

/** The start-up lines: a low open-files limit, then `listening` with what was configured. */
function announce(config: Config, server: RunningServer, logger: Logger): void {
  const nofile = openFilesLimit();
  if (nofile !== undefined && nofile < LOW_NOFILE) {
    logger.warn("the open-files limit is low", {
      nofile,
      hint: `each connection holds one; raise it to ${LOW_NOFILE} or more ` +
        "(ulimit -n, docker run --ulimit nofile=...)",
    });
  }
  logger.info("listening", {
    address: `http://${localHost(config.host)}:${server.addr.port}`,
    host: server.addr.hostname,
    port: server.addr.port,
    version: VERSION,
    deno: Deno.version.deno,
    pid: Deno.pid,
    config: config.sources.length ? `environment (${config.sources.join(", ")})` : "defaults",
    maxConnections: config.maxConnections,
    maxConnectionsFrom: config.maxConnectionsFrom,
  });
  logger.flush();
}

/**
 * After the first stop signal: `/ready` at 503, SHUTDOWN_DELAY_MS of serving on (a second
 * signal cuts it short), then the server's shutdown. Resolves to the exit code: 1 only when
 * running handlers had to be cut off.
 */
async function stop(
  config: Config,
  server: RunningServer,
  logger: Logger,
  options: { signal: Deno.Signal; nextSignal: () => Promise<Deno.Signal>; state: ServeState },
): Promise<number> {
  options.state.ready = false;
  logger.info("shutting down", {
    signal: options.signal,
    running: server.inFlight,
    ...(config.shutdownDelayMs ? { delayMs: config.shutdownDelayMs } : {}),
  });
  if (config.shutdownDelayMs) {
    let timer;
    const delay = new Promise((resolve) => timer = setTimeout(resolve, config.shutdownDelayMs));
    await Promise.race([delay, options.nextSignal()]);
    clearTimeout(timer);
    logger.flush();
  }
  const { outcome, running } = await server.shutdown();
  if (outcome === "drained") logger.info("stopped");
  else if (outcome === "closed-slow-clients") {
    logger.info("stopped, closing connections of clients still sending or not reading");
  } else {
    logger.warn("shutdown timed out, running handlers were cut off", {
      running,
      timeoutMs: config.shutdownTimeoutMs,
    });
  }
  return outcome === "timed-out" ? 1 : 0;
}

/** Serve until a stop signal; resolves to the exit code. */
async function serve(config: Config): Promise<number> {
  const logger = await createProcessLogger(config);
  const state: ServeState = { ready: true };
  const handler = await buildHandler(config, logger, state);
  const nextSignal = listenForStopSignals();
  const server = await listen(config, handler, logger);
  if (!server) return 1;
  announce(config, server, logger);
  const signal = await nextSignal();
  const deadline = performance.now() + config.shutdownDelayMs + config.shutdownTimeoutMs;
  const code = await stop(config, server, logger, { signal, nextSignal, state });
  const left = deadline - performance.now();
  await logger.drain(Math.min(LOG_DRAIN_MS.max, Math.max(LOG_DRAIN_MS.min, left)));
  return code;
}

/**
 * The URL of `/health` on the server that `env`'s PORT and HOST describe, read with the
 * defaults of config.ts but without its schema (kept light: see the module comment).
 *
 * @throws {ConfigError} when PORT or HOST cannot name a server to ask
 */
export function healthcheckUrl(env: Env): string {
  const port = env.PORT || "8080";
  const host = env.HOST || "0.0.0.0";
  const problems: string[] = [];
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    problems.push(`PORT must be an integer from 1 to 65535, got ${quoteValue(port)}`);
  }
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host)) {
    problems.push(`HOST must be an IP address or a host name, got ${quoteValue(host)}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return `http://${localHost(host)}:${Number(port)}`;
}

async function healthcheck(): Promise<number> {
  let baseUrl;
  try {
    baseUrl = healthcheckUrl(readVariables(["PORT", "HOST"]));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`Unhealthy: ${problem}`);
    return 1;
  }
  const problem = await checkHealth(baseUrl);
  if (problem) {
    console.error(`Unhealthy: ${problem}`);
    return 1;
  }
  return 0;
}

/** `--help`: the commands, and the variables from config.ts's schema (loaded only here). */
async function usage(): Promise<string> {
  const { configUsage } = await import("./config.ts");
  return `Usage: main.ts [serve|healthcheck|--version|--help]

  serve        Serve the SWFT page (default)
  healthcheck  Exit 0 when the server on PORT answers /health, else 1

Configuration comes from the environment; an empty value means the default (see README.md):
${configUsage()}`;
}

/** Run the command named by `args`; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const command = args[0] ?? "serve";
  if (command === "--help" || command === "-h") {
    console.log(await usage());
    return 0;
  }
  if (command === "--version" || command === "-V") {
    console.log(`swft ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  if (command === "healthcheck") return await healthcheck();
  if (command !== "serve") {
    console.error(`Cannot run main.ts: unknown command "${command}"\n\n${await usage()}`);
    return 2;
  }
  const config = await loadConfig();
  return config ? await serve(config) : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
