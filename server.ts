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
   * Longest pause between attempts to listen again after the accept loop failed (such as
   * on `Too many open files`); the pauses double from 50 ms up to this. Default 1000.
   */
  relistenMaxDelayMs?: number;
}

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

/** How long a listener restarted after a failure must last for the failure to count as over. */
const RECOVERED_AFTER_MS = 5000;

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
 * whatever it holds.
 */
export function logPath(url: string, host: string | null = null): string {
  const authority = url.indexOf("//") + 2;
  const start = host !== null && url.startsWith(host, authority)
    ? url.indexOf("/", authority + host.length)
    : url.indexOf("/", authority);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/**
 * Listen and serve `handler`; resolves once the socket is bound, rejects when it cannot be.
 *
 * Deno.serve ends its accept loop on an accept error such as `Too many open files`, which
 * would leave the process serving nobody. Here the loop's end is logged once as a warning and
 * the server listens again on the same port, with pauses doubling up to
 * {@linkcode ServerOptions.relistenMaxDelayMs}, until it can: clients cannot stop it.
 */
export function startServer(handler: Handler, options: ServerOptions): Promise<RunningServer> {
  const { logger } = options;
  const maxDelay = options.relistenMaxDelayMs ?? 1000;
  let inFlight = 0;
  let whenIdle: (() => void) | undefined;
  // A synchronous answer is never in flight for long; only pending ones are counted, so the
  // hot routes stay free of promise overhead.
  const done = () => {
    if (--inFlight === 0) whenIdle?.();
  };
  const counted: Handler = (request, info) => {
    const result = handler(request, info);
    if (result instanceof Response) return result;
    inFlight++;
    return result.finally(done);
  };
  const servers = new Set<Deno.HttpServer<Deno.NetAddr>>();
  let stopping = false;
  /** The current failure: since when, restarts so far, the next pause, the recovery timer. */
  let failure:
    | { since: number; restarts: number; delay: number; timer?: ReturnType<typeof setTimeout> }
    | undefined;

  function listen(port: number): Deno.HttpServer<Deno.NetAddr> {
    const server = Deno.serve({
      port,
      hostname: options.host,
      handler: counted,
      onListen: () => {}, // main.ts logs the start-up line, in the configured format
      onError: (error) => {
        logger.error("unhandled error", { error: String(error) });
        return new Response("Internal server error", { status: 500 });
      },
    });
    servers.add(server);
    server.finished.then(
      () => servers.delete(server),
      (error) => {
        servers.delete(server);
        // The bound port: when 0 was asked for, the same one clients know.
        if (!stopping) void listenAgain(server.addr.port, error);
      },
    );
    return server;
  }

  async function listenAgain(port: number, error: unknown) {
    if (!failure) {
      failure = { since: performance.now(), restarts: 0, delay: 50 };
      logger.warn("accepting connections failed, listening again until it works", {
        error: error instanceof Error ? error.message : String(error),
        port,
        hint: "raise the open-files limit (nofile) or limit connections in a proxy in front",
      });
    }
    clearTimeout(failure.timer);
    while (!stopping) {
      await sleep(failure.delay);
      failure.delay = Math.min(failure.delay * 2, maxDelay);
      if (stopping) return;
      try {
        listen(port);
      } catch {
        continue; // still out of descriptors, or the port is taken: wait longer
      }
      failure.restarts++;
      const current = failure;
      const timer = setTimeout(() => {
        if (failure !== current) return;
        failure = undefined;
        logger.info("accepting connections again", {
          port,
          restarts: current.restarts,
          afterMs: Math.round(performance.now() - current.since - RECOVERED_AFTER_MS),
        });
      }, RECOVERED_AFTER_MS);
      Deno.unrefTimer(timer);
      current.timer = timer;
      return;
    }
  }

  async function shutdown(): Promise<ShutdownResult> {
    stopping = true;
    clearTimeout(failure?.timer);
    const closed = Promise.allSettled([...servers].map((server) => server.shutdown()))
      .then(() => "drained" as const);
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
    }
  }

  let first: Deno.HttpServer<Deno.NetAddr>;
  try {
    first = listen(options.port);
  } catch (error) {
    return Promise.reject(error);
  }
  const addr = first.addr;
  return Promise.resolve({
    addr,
    url: `http://${localHost(addr.hostname)}:${addr.port}`,
    get inFlight() {
      return inFlight;
    },
    shutdown,
  });
}
