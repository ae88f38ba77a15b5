/**
 * Assembles the SWFT application from a {@linkcode Config}. The app is a plain Hono instance:
 * serve it with `Deno.serve(app.fetch)`, or test it with `app.request()` and no socket.
 *
 * @example
 * ```ts
 * import { createApp } from "./routes/mod.ts";
 * import { parseConfig } from "../config/mod.ts";
 * const app = createApp(parseConfig({}));
 * const res = await app.request("/health");
 * console.log(res.status); // 200
 * ```
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { HonoApp } from "./_hono.ts";
import { accepts } from "hono/accepts";
import type { Config } from "../config/mod.ts";
import { createApiRoutes } from "./api.ts";
import { createPageRoutes, renderPages } from "./pages.ts";
import { createStaticRoutes } from "./static.ts";
import { type Metrics, UNMATCHED_ROUTE } from "./metrics.ts";
import { routePath } from "hono/route";
import { acceptableHost } from "./_host.ts";
import { pathStart } from "../server/request_url.ts";
import { fixedResponse } from "./_prebuilt.ts";
import { type FastPath, fastPath } from "./_fast_path.ts";
import { apiHeaders, documentHeaders, type HeaderList } from "./_security_headers.ts";

/** Where the app finds its files: beside this project, also inside a `deno compile` binary. */
export const APP_ROOT: string = import.meta.dirname!.replace(/[\\/][^\\/]+$/, "");

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** The clock behind `/time`. */
  now?: () => Date;
  /** Called with unexpected errors before a 500 is sent. */
  onError?: (error: unknown, request: Request) => void;
  /** Whether `/ready` answers 200; main.ts turns it false when SIGTERM arrives. */
  ready?: () => boolean;
  /** Folder holding templates/ and static/. */
  root?: string;
  /**
   * Prometheus metrics from `createMetrics` (routes/metrics.ts): with them, every request is
   * counted and timed by route pattern, and `GET /metrics` serves them. Without them (the
   * default) nothing is measured and `/metrics` does not exist.
   */
  metrics?: Metrics;
  /** Called once at start-up for each problem worth a warning, such as skipped symlinks. */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

/** The methods every route answers; anything else on a known path gets 405. */
export const ALLOWED_METHODS = "GET, HEAD";

/** Build the Hono app for one configuration. Reads and renders its files once, here. */
export function createApp(config: Config, options: AppOptions = {}): HonoApp {
  const root = options.root ?? APP_ROOT;
  const pages = renderPages(`${root}/templates`, {
    backgroundColor: config.backgroundColor,
    message: config.customMessage,
    hostname: config.hostname,
  });
  const documents = documentHeaders();
  const api = apiHeaders();
  const problem = problemResponses(pages.notFound, documents, api);
  const methodNotAllowed = (c: Context) => problem(c, 405);

  // No app-wide middleware: the hot routes answer synchronously with precomputed headers.
  const app = new Hono();
  if (options.metrics) addMetrics(app, options.metrics, api);
  app.route("/", createPageRoutes({ pages, headers: documents }));
  app.route("/", createApiRoutes({ headers: api, now: options.now, ready: options.ready }));
  app.route(
    "/",
    createStaticRoutes({
      root: `${root}/static`,
      headers: documents,
      methodNotAllowed,
      warn: options.warn,
    }),
  );
  addProblemHandlers(app, problem, options.onError);
  serveFastPathFirst(app, api, options.metrics);
  return app;
}

/** The answer to a request that has no route, no allowed method, or failed. */
type Problem = (c: Context, status: 404 | 405 | 500) => Response;

/** Error answers as HTML, or as JSON when the client asks for it; 405 says what is allowed. */
function problemResponses(notFoundPage: string, documents: HeaderList, api: HeaderList): Problem {
  const htmlHeaders: HeaderList = [...documents, ["content-type", "text/html; charset=utf-8"]];
  const jsonHeaders: HeaderList = [...api, ["content-type", "application/json"]];
  const errorPage = "<!DOCTYPE html><title>Error</title><h1>Internal server error</h1>";
  const methodPage = "<!DOCTYPE html><title>Error</title><h1>Method not allowed</h1>";
  const messages = { 404: "Not found", 405: "Method not allowed", 500: "Internal server error" };
  return (c, status) => {
    const wantsJson = accepts(c, {
      header: "Accept",
      supports: ["text/html", "application/json"],
      default: "text/html",
    }) === "application/json";
    const extra: HeaderList = status === 405 ? [["allow", ALLOWED_METHODS]] : [];
    if (wantsJson) {
      const body = JSON.stringify({ error: messages[status], status });
      return fixedResponse(body, [...jsonHeaders, ...extra], status);
    }
    const body = status === 404 ? notFoundPage : status === 405 ? methodPage : errorPage;
    return fixedResponse(body, [...htmlHeaders, ...extra], status);
  };
}

/** Counts and times every request Hono dispatches, by route pattern, and serves `/metrics`. */
function addMetrics(app: Hono, metrics: Metrics, api: HeaderList): void {
  // First, so that it wraps every route Hono dispatches; the fast path records its own.
  app.use("*", async (c, next) => {
    const done = metrics.start();
    await next();
    const pattern = routePath(c, -1);
    // The middleware itself ("/*") is the last match when no route matched.
    const unmatched = pattern === "*" || pattern === "/*";
    done(c.req.method, unmatched ? UNMATCHED_ROUTE : pattern, c.res.status);
  });
  const metricsHeaders: HeaderList = [...api, ["cache-control", "no-store"]];
  app.get("/metrics", async () => {
    const { body, contentType } = await metrics.render();
    return fixedResponse(body, [...metricsHeaders, ["content-type", contentType]]);
  });
}

/** 405 on a known path with another method, 404 elsewhere, 500 when a route throws. */
function addProblemHandlers(app: Hono, problem: Problem, onError: AppOptions["onError"]): void {
  // The exact paths with a route, read from the router once routes are all added (routes
  // added by createApp's callers count too).
  let knownPaths: Set<string> | undefined;
  app.notFound((c) => {
    knownPaths ??= new Set(
      app.routes.filter((route) => route.method !== "ALL" && !/[:*{]/.test(route.path))
        .map((route) => route.path),
    );
    return knownPaths.has(c.req.path) ? problem(c, 405) : problem(c, 404);
  });
  app.onError((error, c) => {
    onError?.(error, c.req.raw);
    return problem(c, 500);
  });
}

/**
 * Wraps `app.fetch`: first the Host check (a Host that is not a plain host[:port] would rewrite
 * request.url: routes/_host.ts), then the fast path. A GET of a route marked in
 * routes/_fast_path.ts, with no query string, is answered by its raw handler, without Hono's
 * path parsing, router and Context (docs/bench.md); everything else goes through Hono, which
 * holds every route, so app.request() tests see the same app.
 */
function serveFastPathFirst(app: Hono, api: HeaderList, metrics: Metrics | undefined): void {
  const badHost = fixedResponse("Bad request: invalid Host header\n", [
    ...api,
    ["content-type", "text/plain; charset=utf-8"],
  ], 400);
  const route = app.fetch;
  // Read from Hono's routes at the first request, once every route is added.
  let fast: FastPath | undefined;
  app.fetch = (request, env, executionCtx) => {
    if (!acceptableHost(request)) {
      metrics?.start()(request.method, UNMATCHED_ROUTE, 400);
      return badHost.clone();
    }
    if (request.method === "GET") {
      fast ??= fastPath(app);
      const answer = answerFast(fast, request, metrics);
      if (answer) return answer;
    }
    return route(request, env, executionCtx);
  };
}

/** The fast path's answer to a GET, or `undefined` to let Hono route it. */
function answerFast(
  fast: FastPath,
  request: Request,
  metrics: Metrics | undefined,
): Response | undefined {
  const path = request.url.slice(pathStart(request.url));
  const handler = fast.handler(path);
  if (handler === undefined) return undefined;
  if (!metrics) {
    try {
      return handler(request);
    } catch {
      // Let Hono run it again, to report the error and answer 500 as for any route.
      return undefined;
    }
  }
  const done = metrics.start();
  try {
    const response = handler(request);
    done("GET", fast.pattern(path), response.status);
    return response;
  } catch {
    done("GET", path); // Not answered here: Hono's retry is the one counted.
    return undefined;
  }
}
