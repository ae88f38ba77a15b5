/**
 * Runs an app on a socket: the access log, graceful shutdown and the `healthcheck` probe.
 * Nothing here exits the process; main.ts decides.
 *
 * @module
 */
import type { Logger } from "./logger.ts";
import { localHost } from "./_healthcheck.ts";

export { checkHealth, type HealthcheckOptions, localHost } from "./_healthcheck.ts";

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
  port: number;
  host: string;
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
   * Connections served at once; one more is closed as soon as it is accepted, so clients
   * cannot use up the process's file descriptors. Default {@linkcode MAX_CONNECTIONS}.
   */
  maxConnections?: number;
}

/** Default of {@linkcode ServerOptions.headerTimeoutMs}: 10 s, as most proxies allow. */
export const HEADER_TIMEOUT_MS = 10_000;
/**
 * Default of {@linkcode ServerOptions.idleTimeoutMs}: 65 s, above the 60 s idle timeout of
 * common load balancers, so the server never closes a connection a balancer is about to reuse.
 */
export const IDLE_TIMEOUT_MS = 65_000;
/** Default of {@linkcode ServerOptions.maxConnections}. */
export const MAX_CONNECTIONS = 16_384;

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

/** How often connections are checked against their timeouts: the timeouts' granularity. */
const SWEEP_MS = 1000;

/**
 * Deno's own server for one accepted connection: what Deno.serve runs for each of its
 * listener's connections (the same native HTTP stack), reached through `Deno[Deno.internal]`.
 * Deno.serve (2.9) has no header-read or idle timeout, no connection limit, and ends its
 * accept loop for good on `Too many open files`; serving each connection ourselves gives
 * all three. Measured: the same requests/s as Deno.serve (wrk -c32 /health: 84-88k both).
 * Internal, so Deno is pinned (2.9.6) and tests/timeouts_test.ts fails if it goes away.
 */
type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Handler,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

// deno-lint-ignore no-explicit-any
const internals = (Deno as any)[(Deno as any).internal] as
  | { serveHttpOnConnection?: ServeOnConnection }
  | undefined;

/** Whether this Deno serves single connections (see {@linkcode startServer}). */
export const canServeConnections: boolean = typeof internals?.serveHttpOnConnection === "function";

/**
 * Closing a connection at once aborts its serve, and Deno's abort handler throws BadResource
 * (reported as an uncaught error in an event listener, which would end the process) when the
 * connection had closed an instant before. That one error, raised while {@linkcode closeNow}
 * runs, is expected and dropped; anything else still surfaces.
 */
let closing = false;
let guardInstalled = false;
function installCloseGuard() {
  if (guardInstalled) return;
  guardInstalled = true;
  globalThis.addEventListener("error", (event) => {
    if (closing && event.error instanceof Deno.errors.BadResource) event.preventDefault();
  });
}

function closeNow(conn: Connection) {
  if (conn.finished) return;
  conn.finished = true;
  closing = true;
  try {
    conn.abort.abort();
  } finally {
    closing = false;
  }
}

/** One served connection: its handlers running now, and when it last had none. */
interface Connection {
  /** Its serve ended, or it was closed: never abort it (again). */
  finished: boolean;
  running: number;
  /** Requests it has answered; 0 means it is still within its header-read timeout. */
  requests: number;
  /** The sweep count when `running` last fell to 0 (or when it was accepted). */
  idleSince: number;
  abort: AbortController;
  served: { finished: Promise<void>; shutdown(): Promise<void> };
}

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
  const authority = url.indexOf("//") + 2;
  let start = -1;
  if (host !== null) {
    // Deno decodes the URL as UTF-8 and the header as Latin-1: try the header both ways.
    const written = url.startsWith(host, authority) ? host : utf8(host);
    // Not there at all: the URL's authority came from an absolute-form target, not the Host.
    start = url.startsWith(written, authority)
      ? url.indexOf("/", authority + written.length)
      : url.indexOf("/", authority);
  } else start = url.indexOf("/", authority);
  if (start === -1) return "/";
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
 * Each connection is served on its own (see `ServeOnConnection`), so that clients cannot
 * stop the server: one that sends no whole request within
 * {@linkcode ServerOptions.headerTimeoutMs}, or sits idle (or stalled mid-body, or not
 * reading) {@linkcode ServerOptions.idleTimeoutMs} after its last response, is closed; past
 * {@linkcode ServerOptions.maxConnections} new connections are closed at once; and when
 * accepting fails (such as on `Too many open files`) the failure is logged once and accepting
 * goes on, with pauses doubling up to {@linkcode ServerOptions.retryMaxDelayMs}.
 */
export function startServer(handler: Handler, options: ServerOptions): Promise<RunningServer> {
  if (!canServeConnections) {
    return Promise.reject(new Error(`this Deno (${Deno.version.deno}) cannot serve connections`));
  }
  const serveOn = internals!.serveHttpOnConnection!;
  installCloseGuard();
  const { logger } = options;
  const maxDelay = options.retryMaxDelayMs ?? 1000;
  const headerTicks = Math.max(
    1,
    Math.ceil((options.headerTimeoutMs ?? HEADER_TIMEOUT_MS) / SWEEP_MS),
  );
  const idleTicks = Math.max(1, Math.ceil((options.idleTimeoutMs ?? IDLE_TIMEOUT_MS) / SWEEP_MS));
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  let inFlight = 0;
  let whenIdle: (() => void) | undefined;
  const done = () => {
    if (--inFlight === 0) whenIdle?.();
  };
  const connections = new Set<Connection>();
  /** Set by a shutdown waiting for the last connection to close. */
  let whenClosed: (() => void) | undefined;
  let stopping = false;
  let tick = 0;
  const onError = (error: unknown) => {
    logger.error("unhandled error", { error: String(error) });
    return new Response("Internal server error", { status: 500 });
  };

  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ port: options.port, hostname: options.host });
  } catch (error) {
    return Promise.reject(error);
  }

  // Timeouts are counted in sweeps, not timers: a request costs two integer updates. A
  // connection is closed between its timeout and one sweep later, never before.
  const sweeper = setInterval(() => {
    tick++;
    for (const conn of connections) {
      if (conn.running > 0) continue;
      const limit = conn.requests === 0 ? headerTicks : idleTicks;
      if (tick - conn.idleSince > limit) closeNow(conn);
    }
  }, SWEEP_MS);
  Deno.unrefTimer(sweeper);

  function serve(tcp: Deno.Conn) {
    const abort = new AbortController();
    const conn: Connection = {
      finished: false,
      running: 0,
      requests: 0,
      idleSince: tick,
      abort,
      served: undefined!,
    };
    const release = () => {
      if (--conn.running === 0) conn.idleSince = tick;
    };
    const onRequest: Handler = (request, info) => {
      conn.running++;
      conn.requests++;
      let result;
      try {
        result = handler(request, info);
      } catch (error) {
        release();
        throw error;
      }
      if (result instanceof Response) {
        release();
        return result;
      }
      inFlight++;
      return result.finally(() => {
        release();
        done();
      });
    };
    conn.served = serveOn(tcp, abort.signal, onRequest, onError, () => {});
    connections.add(conn);
    const forget = () => {
      conn.finished = true;
      connections.delete(conn);
      if (connections.size === 0) whenClosed?.();
    };
    conn.served.finished.then(forget, forget);
  }

  let failing: { since: number; delay: number } | undefined;
  let refusedWarned = false;
  (async () => {
    while (!stopping) {
      let tcp: Deno.Conn;
      try {
        tcp = await listener.accept();
      } catch (error) {
        if (stopping) return;
        if (!failing) {
          failing = { since: performance.now(), delay: 50 };
          logger.warn("accepting connections failed, retrying until it works", {
            error: error instanceof Error ? error.message : String(error),
            port: listener.addr.port,
            hint: "raise the open-files limit (nofile) or limit connections in a proxy in front",
          });
        }
        await sleep(failing.delay);
        failing.delay = Math.min(failing.delay * 2, maxDelay);
        continue;
      }
      if (failing) {
        logger.info("accepting connections again", {
          port: listener.addr.port,
          afterMs: Math.round(performance.now() - failing.since),
        });
        failing = undefined;
      }
      if (stopping) {
        tcp.close();
        return;
      }
      if (connections.size >= maxConnections) {
        tcp.close();
        if (!refusedWarned) {
          refusedWarned = true;
          logger.warn("too many connections, closing new ones", { maxConnections });
        }
        continue;
      }
      refusedWarned = false;
      serve(tcp);
    }
  })();

  async function shutdown(): Promise<ShutdownResult> {
    stopping = true;
    listener.close();
    clearInterval(sweeper);
    // Graceful: idle keep-alive connections close now, the others after their response.
    for (const conn of connections) conn.served.shutdown().catch(() => {});
    const closed = connections.size === 0
      ? Promise.resolve("drained" as const)
      : new Promise<"drained">((resolve) => whenClosed = () => resolve("drained"));
    const idle = inFlight === 0
      ? Promise.resolve("idle" as const)
      : new Promise<"idle">((resolve) => whenIdle = () => resolve("idle"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timed-out">((resolve) => {
      timer = setTimeout(() => resolve("timed-out"), options.shutdownTimeoutMs);
    });
    try {
      const first = await Promise.race([closed, idle, timedOut]);
      if (first === "timed-out") return { outcome: "timed-out", running: inFlight };
      if (first === "drained") return { outcome: "drained", running: 0 };
      clearTimeout(timer);
      const grace = new Promise<"closed-slow-clients">((resolve) => {
        timer = setTimeout(() => resolve("closed-slow-clients"), SHUTDOWN_GRACE_MS);
      });
      const outcome = await Promise.race([closed, grace]);
      return { outcome, running: 0 };
    } finally {
      clearTimeout(timer);
      // Whatever is still open (clients not reading, stalled mid-body) is closed now.
      for (const conn of connections) closeNow(conn);
    }
  }

  const addr = listener.addr;
  return Promise.resolve({
    addr,
    url: `http://${localHost(addr.hostname)}:${addr.port}`,
    get inFlight() {
      return inFlight;
    },
    shutdown,
  });
}
