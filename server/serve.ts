/**
 * The serve lifecycle of `main.ts serve`: the process logger, listening, the start-up line, and
 * on SIGTERM or SIGINT `/ready` at 503, SHUTDOWN_DELAY_MS of serving on, then the drain.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Logger } from "./logger.ts";
import type { Handler, RunningServer } from "./mod.ts";

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
export interface ServeState {
  /** False from the first stop signal on: `/ready` answers 503. */
  ready: boolean;
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
  const { startServer } = await import("./mod.ts");
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

function bracketed(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** The start-up lines: a low open-files limit, then `listening` with what was configured. */
function announce(
  config: Config,
  server: RunningServer,
  logger: Logger,
  version: string,
): void {
  const nofile = openFilesLimit();
  if (nofile !== undefined && nofile < LOW_NOFILE) {
    logger.warn("the open-files limit is low", {
      nofile,
      hint: `each connection holds one; raise it to ${LOW_NOFILE} or more ` +
        "(ulimit -n, docker run --ulimit nofile=...)",
    });
  }
  logger.info("listening", {
    // The socket's own address (0.0.0.0:80 in the image), not a URL: behind a published port
    // or a proxy the address users reach is another one, which the server cannot know.
    address: `${bracketed(server.addr.hostname)}:${server.addr.port}`,
    host: server.addr.hostname,
    port: server.addr.port,
    version,
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

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** The version the start-up line names. */
  version: string;
  /** The request handler, built once the logger exists; `state.ready` turns false at SIGTERM. */
  buildHandler(logger: Logger, state: Readonly<ServeState>): Promise<Handler>;
}

/**
 * Serve until a stop signal, then drain; resolves to the exit code.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await serve(config, { version: "1.0.0", buildHandler: async () => app.fetch }));
 * ```
 */
export async function serve(config: Config, options: ServeOptions): Promise<number> {
  const logger = await createProcessLogger(config);
  const state: ServeState = { ready: true };
  const handler = await options.buildHandler(logger, state);
  const nextSignal = listenForStopSignals();
  const server = await listen(config, handler, logger);
  if (!server) return 1;
  announce(config, server, logger, options.version);
  const signal = await nextSignal();
  const deadline = performance.now() + config.shutdownDelayMs + config.shutdownTimeoutMs;
  const code = await stop(config, server, logger, { signal, nextSignal, state });
  const left = deadline - performance.now();
  await logger.drain(Math.min(LOG_DRAIN_MS.max, Math.max(LOG_DRAIN_MS.min, left)));
  return code;
}
