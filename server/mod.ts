/**
 * Runs an app on a socket: the access log, graceful shutdown and the `healthcheck` probe.
 * Nothing here exits the process; main.ts decides.
 *
 * @module
 */
import { DEFAULT_MAX_CONNECTIONS } from "../config/mod.ts";
import type { Logger } from "./logger.ts";
import { localHost } from "./healthcheck.ts";
import { ConnectionTable, SWEEP_MS } from "./_connections.ts";
import { authorityStart, pathStart } from "./request_url.ts";
import { type ConnectionServer, denoConnectionServer } from "./_connection_server.ts";

export { checkHealth, type HealthcheckOptions, localHost } from "./healthcheck.ts";

/**
 * Something that answers requests, such as a Hono app's `fetch`. `info` is Deno.serve's
 * connection info: pass it on, the app tells socket requests from in-process ones by it.
 */
export type Handler = (
  request: Request,
  info?: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Port to listen on (0: the system picks a free one). */
  port: number;
  /** Address to listen on. */
  host: string;
  /** Where the start-up line, the access log and errors go. */
  logger: Logger;
  /** Longest time {@linkcode RunningServer.shutdown} waits for running handlers. */
  shutdownTimeoutMs: number;
  /**
   * Longest pause between attempts to accept again after accepting failed (such as on
   * `Too many open files`); the pauses double from 50 ms up to this. Default 1000.
   */
  retryMaxDelayMs?: number;
  /**
   * A new connection that has not sent a whole request within this time is closed: the
   * header-read timeout (slowloris, idle sockets). Default {@linkcode HEADER_TIMEOUT_MS}.
   */
  headerTimeoutMs?: number;
  /**
   * A connection with no handler running is closed this long after its last response was
   * handed over: the keep-alive idle timeout, which also bounds a client stalled mid-body or
   * not reading its response. Default {@linkcode IDLE_TIMEOUT_MS}.
   */
  idleTimeoutMs?: number;
  /**
   * Connections served at once, which bounds the memory they take. At the limit a new
   * connection first closes the connection idle longest (no handler running); it is closed
   * itself only when every connection has a handler running. Default
   * {@linkcode MAX_CONNECTIONS}.
   */
  maxConnections?: number;
  /**
   * Deno's per-connection server (`_connection_server.ts`), which the limits above need; by
   * default this Deno's. `null` serves with public `Deno.serve` instead, without them, as
   * happens when this Deno has none (a warning says what is lost).
   */
  connectionServer?: ConnectionServer | null;
}

/** Default of {@linkcode ServerOptions.headerTimeoutMs}: 10 s, as most proxies allow. */
export const HEADER_TIMEOUT_MS = 10_000;
/**
 * Default of {@linkcode ServerOptions.idleTimeoutMs}: 65 s, above the 60 s idle timeout of
 * common load balancers, so the server never closes a connection a balancer is about to reuse.
 */
export const IDLE_TIMEOUT_MS = 65_000;
/** Default of {@linkcode ServerOptions.maxConnections}: the configuration's. */
export const MAX_CONNECTIONS: number = DEFAULT_MAX_CONNECTIONS;

/** How a {@linkcode RunningServer.shutdown} ended. */
export interface ShutdownResult {
  /**
   * - `drained`: every request finished and every connection closed.
   * - `closed-slow-clients`: every handler finished; connections of clients still sending a
   *   body or not reading their response were closed.
   * - `timed-out`: handlers were still running after the shutdown timeout.
   */
  outcome: "drained" | "closed-slow-clients" | "timed-out";
  /** Handlers still running when the shutdown ended; above 0 only when it timed out. */
  running: number;
}

/** A server that is listening. */
export interface RunningServer {
  /** The bound address; `port` is the real one when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** The base URL a client on this machine can use. */
  readonly url: string;
  /** Handlers running now. */
  readonly inFlight: number;
  /**
   * Stop accepting connections and wait for running handlers, at most the shutdown timeout.
   * Connections with no handler running (idle keep-alive, a client stalled mid-body or not
   * reading its response) get {@linkcode SHUTDOWN_GRACE_MS} and are then closed.
   */
  shutdown(): Promise<ShutdownResult>;
}

/**
 * How long a shutdown waits, once no handler runs, for connections to close by themselves,
 * so that a response just handed over still reaches a client that reads it.
 */
export const SHUTDOWN_GRACE_MS = 250;

/** Whether this Deno serves single connections (see {@linkcode startServer}). */
export const canServeConnections: boolean = denoConnectionServer !== undefined;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Wrap `handler` so that each request writes one access-log line (method, path, status,
 * duration) after its response is ready. Lives at the server, not in the app, so tests of the
 * app stay quiet and the log costs one closure call and a string append per request.
 */
export function withAccessLog(handler: Handler, logger: Logger): Handler {
  if (!logger.enabled("info")) return handler;
  function log(request: Request, status: number, start: number) {
    // A 400 may be a refused Host, which Deno pasted before the path: read the header to log
    // the real path (only then, to keep the hot path to one header read, in the app).
    const host = status === 400 ? request.headers.get("host") : null;
    logger.access(
      request.method,
      logPath(request.url, host),
      status,
      Math.round((performance.now() - start) * 100) / 100,
    );
  }
  return function accessLogged(request, info) {
    const start = performance.now();
    const result = handler(request, info);
    if (result instanceof Response) {
      log(request, result.status, start);
      return result;
    }
    return result.then((response) => {
      log(request, response.status, start);
      return response;
    });
  };
}

/**
 * The path of `url` for the access log: without the query string (it can hold tokens), and
 * `/` when the URL has no path (CONNECT's `http://host:port`), as `new URL(url).pathname`
 * would say, without parsing the whole URL again.
 *
 * @example
 * ```ts
 * logPath("http://localhost:8080/time?token=x"); // "/time"
 * logPath("http://example.com:443"); // "/"
 * logPath("http://x/static/a?/health", "x/static/a?"); // "/health"
 * ```
 *
 * With `host`, the request's Host header, the URL's authority is taken as exactly that text,
 * whatever it holds, so the path logged is the request target and never part of the Host.
 */
export function logPath(url: string, host: string | null = null): string {
  const authority = authorityStart(url);
  let from = authority;
  if (host !== null) {
    // Deno decodes the URL as UTF-8 and the header as Latin-1: try the header both ways.
    const written = url.startsWith(host, authority) ? host : utf8(host);
    // Not there at all: the URL's authority came from an absolute-form target, not the Host.
    if (url.startsWith(written, authority)) from = authority + written.length;
  }
  const start = pathStart(url, from);
  if (start === url.length) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** A header value (one byte per character) read as the UTF-8 it was sent as. */
function utf8(latin1: string): string {
  return new TextDecoder().decode(Uint8Array.from(latin1, (char) => char.charCodeAt(0)));
}

/**
 * Listen and serve `handler`; resolves once the socket is bound, rejects when it cannot be.
 *
 * Each connection is served on its own (`_connection_server.ts`), so that clients cannot
 * stop the server: one that sends no whole request within
 * {@linkcode ServerOptions.headerTimeoutMs}, or sits idle (or stalled mid-body, or not
 * reading) {@linkcode ServerOptions.idleTimeoutMs} after its last response, is closed; at
 * {@linkcode ServerOptions.maxConnections} a new connection closes the one idle longest, or
 * is closed itself when none is idle; and when accepting fails (such as on
 * `Too many open files`) the failure is logged once and accepting goes on, with pauses
 * doubling up to {@linkcode ServerOptions.retryMaxDelayMs}. Where this Deno has no
 * per-connection server, public `Deno.serve` serves instead, without these limits, and a
 * warning says so once.
 */
export function startServer(handler: Handler, options: ServerOptions): Promise<RunningServer> {
  const connectionServer = options.connectionServer === undefined
    ? denoConnectionServer
    : options.connectionServer ?? undefined;
  try {
    return Promise.resolve(
      connectionServer
        ? serveWithTable(handler, connectionServer, options)
        : servePublic(handler, options),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

function ticks(ms: number): number {
  return Math.max(1, Math.ceil(ms / SWEEP_MS));
}

/** The server on Deno's per-connection server: accept loop, connection table, shutdown. */
function serveWithTable(
  handler: Handler,
  connectionServer: ConnectionServer,
  options: ServerOptions,
): RunningServer {
  const { logger } = options;
  const listener = Deno.listen({ port: options.port, hostname: options.host });
  const table = new ConnectionTable({
    connectionServer,
    handler,
    onError: unhandledError(logger),
    headerTicks: ticks(options.headerTimeoutMs ?? HEADER_TIMEOUT_MS),
    idleTicks: ticks(options.idleTimeoutMs ?? IDLE_TIMEOUT_MS),
  });
  const state = { stopping: false };
  acceptLoop(listener, table, state, options);
  return {
    addr: listener.addr,
    url: serverUrl(listener.addr),
    get inFlight() {
      return table.inFlight;
    },
    shutdown: () => {
      state.stopping = true;
      listener.close();
      // Idle connections close now, the others after their response.
      table.shutdown();
      return drain({
        closed: table.size === 0 ? Promise.resolve() : new Promise((resolve) => {
          table.whenEmpty = resolve;
        }),
        idle: table.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => {
          table.whenIdle = resolve;
        }),
        running: () => table.inFlight,
        closeAll: () => table.closeAll(),
      }, options.shutdownTimeoutMs);
    },
  };
}

/**
 * Either server's answer when the app throws (Hono's own onError answers first; this is for
 * what escapes it): logged, and a 500 that says nothing more.
 */
function unhandledError(logger: Logger): (error: unknown) => Response {
  return (error) => {
    logger.error("unhandled error", { error: String(error) });
    return new Response("Internal server error", { status: 500 });
  };
}

function serverUrl(addr: Deno.NetAddr): string {
  return `http://${localHost(addr.hostname)}:${addr.port}`;
}

/**
 * Accept connections until the server stops: a failure to accept is logged once and retried
 * with pauses doubling up to `retryMaxDelayMs`; at the connection limit the connection idle
 * longest makes room, or the new one is closed when none is idle.
 */
async function acceptLoop(
  listener: Deno.TcpListener,
  table: ConnectionTable,
  state: { stopping: boolean },
  options: ServerOptions,
): Promise<void> {
  const { logger } = options;
  const maxDelay = options.retryMaxDelayMs ?? 1000;
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const port = listener.addr.port;
  let failing: { since: number; delay: number } | undefined;
  let atLimit = false;
  while (!state.stopping) {
    let tcp: Deno.Conn;
    try {
      tcp = await listener.accept();
    } catch (error) {
      if (state.stopping) return;
      if (!failing) {
        failing = { since: performance.now(), delay: 50 };
        logger.warn("accepting connections failed, retrying until it works", {
          error: error instanceof Error ? error.message : String(error),
          port,
          hint: "raise the open-files limit (nofile) or limit connections in a proxy in front",
        });
      }
      await sleep(failing.delay);
      failing.delay = Math.min(failing.delay * 2, maxDelay);
      continue;
    }
    if (failing) {
      logger.info("accepting connections again", {
        port,
        afterMs: Math.round(performance.now() - failing.since),
      });
      failing = undefined;
    }
    if (state.stopping) {
      tcp.close();
      return;
    }
    if (table.size < maxConnections) {
      atLimit = false;
    } else {
      if (!atLimit) {
        atLimit = true;
        logger.warn("connection limit reached, closing the connections idle longest", {
          maxConnections,
        });
      }
      if (!table.evictIdlest()) {
        tcp.close();
        continue;
      }
    }
    table.add(tcp);
  }
}

/** What {@linkcode drain} waits on, from either server. */
interface Draining {
  /** Settles once every connection is closed. */
  closed: Promise<void>;
  /** Settles once no handler is running. */
  idle: Promise<void>;
  /** Handlers running now. */
  running(): number;
  /** Close every connection still open at once. */
  closeAll(): void;
}

/**
 * The shutdown of either server, once it stopped accepting and began closing connections
 * gracefully: wait for running handlers at most `timeoutMs`, give connections that remain
 * {@linkcode SHUTDOWN_GRACE_MS}, then close what is still open.
 */
async function drain(draining: Draining, timeoutMs: number): Promise<ShutdownResult> {
  const closed = draining.closed.then(() => "drained" as const);
  const idle = draining.idle.then(() => "idle" as const);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timed-out">((resolve) => {
    timer = setTimeout(() => resolve("timed-out"), timeoutMs);
  });
  try {
    const first = await Promise.race([closed, idle, timedOut]);
    if (first === "timed-out") return { outcome: "timed-out", running: draining.running() };
    if (first === "drained") return { outcome: "drained", running: 0 };
    clearTimeout(timer);
    const grace = new Promise<"closed-slow-clients">((resolve) => {
      timer = setTimeout(() => resolve("closed-slow-clients"), SHUTDOWN_GRACE_MS);
    });
    return { outcome: await Promise.race([closed, grace]), running: 0 };
  } finally {
    clearTimeout(timer);
    draining.closeAll();
  }
}

/** What the public fallback cannot do, said once when it serves. */
export const LOST_WITHOUT_CONNECTIONS =
  "header-read timeout, idle timeout, connection limit, accepting again after a failure";

/**
 * The fallback: public `Deno.serve`, which serves the same app and drains on shutdown, but
 * has none of the per-connection limits; a warning names what is lost.
 */
function servePublic(handler: Handler, options: ServerOptions): RunningServer {
  const { logger } = options;
  let inFlight = 0;
  let whenIdle: (() => void) | undefined;
  const counted: Handler = (request, info) => {
    const result = handler(request, info);
    if (result instanceof Response) return result;
    inFlight++;
    return result.finally(() => {
      if (--inFlight === 0) whenIdle?.();
    });
  };
  const server = Deno.serve({
    port: options.port,
    hostname: options.host,
    onListen() {},
    onError: unhandledError(logger),
  }, counted);
  logger.warn("serving without connection limits: this Deno has no per-connection server", {
    deno: Deno.version.deno,
    lost: LOST_WITHOUT_CONNECTIONS,
    hint: "use the Deno version the project pins, or bound connections in a proxy in front",
  });
  const addr = server.addr;
  return {
    addr,
    url: serverUrl(addr),
    get inFlight() {
      return inFlight;
    },
    shutdown: () =>
      drain({
        closed: server.shutdown(),
        idle: inFlight === 0 ? Promise.resolve() : new Promise((resolve) => whenIdle = resolve),
        running: () => inFlight,
        // Public Deno.serve cannot close a connection at once: those of clients still sending
        // or not reading stay open until the process exits, which main.ts does next.
        closeAll() {},
      }, options.shutdownTimeoutMs),
  };
}
