/**
 * Runs an app on a socket: the access log, graceful shutdown and the `healthcheck` probe.
 * Nothing here exits the process; main.ts decides.
 *
 * @module
 */
import type { Logger } from "./logger.ts";

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
  /** Longest time {@linkcode RunningServer.shutdown} waits for in-flight requests. */
  shutdownTimeoutMs: number;
}

/** A server that is listening. */
export interface RunningServer {
  /** The bound address; `port` is the real one when 0 was asked for. */
  readonly addr: Deno.NetAddr;
  /** The base URL a client on this machine can use. */
  readonly url: string;
  /** Requests being answered now. */
  readonly inFlight: number;
  /**
   * Stop accepting connections and wait for in-flight requests, at most the shutdown timeout.
   * Resolves `true` when every request finished in time.
   */
  shutdown(): Promise<boolean>;
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

/** Host a local client should dial to reach a server bound to `host`. */
export function localHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Listen and serve `handler`; resolves once the socket is bound. */
export function startServer(handler: Handler, options: ServerOptions): Promise<RunningServer> {
  let inFlight = 0;
  // A synchronous answer is never in flight for long; only pending ones are counted, so the
  // hot routes stay free of promise overhead.
  const done = () => void inFlight--;
  const counted: Handler = (request, info) => {
    const result = handler(request, info);
    if (result instanceof Response) return result;
    inFlight++;
    return result.finally(done);
  };
  return new Promise((resolve, reject) => {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        port: options.port,
        hostname: options.host,
        handler: counted,
        onListen: () => {}, // main.ts logs the start-up line, in the configured format
        onError: (error) => {
          options.logger.error("unhandled error", { error: String(error) });
          return new Response("Internal server error", { status: 500 });
        },
      });
    } catch (error) {
      reject(error);
      return;
    }
    const addr = server.addr;
    resolve({
      addr,
      url: `http://${localHost(addr.hostname)}:${addr.port}`,
      get inFlight() {
        return inFlight;
      },
      async shutdown() {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<false>((done) => {
          timer = setTimeout(() => done(false), options.shutdownTimeoutMs);
        });
        const drained = server.shutdown().then(() => true as const);
        try {
          return await Promise.race([drained, timedOut]);
        } finally {
          clearTimeout(timer);
        }
      },
    });
  });
}

/** Options of {@linkcode checkHealth}. */
export interface HealthcheckOptions {
  /** Give up after this long, in milliseconds. */
  timeoutMs?: number;
}

/**
 * Ask a running server's `/health`. Resolves to `null` when it answered 200 `{"status":"ok"}`,
 * or to a sentence saying what went wrong. Used by `main.ts healthcheck`, which the image's
 * HEALTHCHECK runs: the runtime image has no shell and no curl.
 */
export async function checkHealth(
  baseUrl: string,
  options: HealthcheckOptions = {},
): Promise<string | null> {
  const url = `${baseUrl}/health`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
    const text = await response.text();
    if (response.status !== 200) return `${url} answered ${response.status}`;
    let status: unknown;
    try {
      status = JSON.parse(text)?.status;
    } catch {
      status = undefined;
    }
    return status === "ok" ? null : `${url} answered an unexpected body: ${text.slice(0, 100)}`;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `${url} could not be reached: ${reason}`;
  }
}
