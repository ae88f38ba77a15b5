/**
 * The fast path, derived from the one route table: Hono's `app.routes`. A route whose answer
 * needs nothing but the request is registered with {@linkcode getRaw} (one exact path) or
 * {@linkcode filesUnder} (a folder of files behind one wildcard route); its Hono handler then
 * carries its raw handlers by path, and {@linkcode fastPath} merges them once every route is added.
 * `createApp` answers a GET of such a path before Hono parses the path, routes and builds a
 * Context; Hono still holds the route, for HEAD, queries, encoded paths and `app.request()`.
 * Adding a route is one registration.
 *
 * @module
 */
import type { HonoApp as Hono, HonoContext as Context } from "./_hono.ts";
import type { RawHandler } from "./_prebuilt.ts";

/** Where a Hono handler keeps the raw handlers it answers with, by full URL path. */
const RAW = Symbol("raw handlers");

type Marked = ((c: Context) => Response | Promise<Response>) & {
  [RAW]?: ReadonlyMap<string, RawHandler>;
};

/**
 * Register `handler` for `GET path` (and HEAD, which Hono answers through GET) on `app`, and
 * mark it for the fast path.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono();
 * getRaw(app, "/health", () => new Response("ok"));
 * ```
 */
export function getRaw(app: Hono, path: string, handler: RawHandler): void {
  const route: Marked = (c) => handler(c.req.raw);
  route[RAW] = new Map([[path, handler]]);
  app.get(path, route);
}

/**
 * Register one route, `prefix/*`, answering each of `files` (keyed by their full URL path)
 * for GET and HEAD (other methods get `methodNotAllowed`, other paths the app's 404), and
 * mark it for the fast path. One route and a map lookup rather than a
 * route per file: a file name may hold characters that the router reads as patterns (`:`,
 * `*`, `{`).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono();
 * const files = new Map([["/static/a.txt", () => new Response("a")]]);
 * filesUnder(app, "/static", files, () => new Response(null, { status: 405 }));
 * ```
 */
export function filesUnder(
  app: Hono,
  prefix: string,
  files: ReadonlyMap<string, RawHandler>,
  methodNotAllowed: (c: Context) => Response,
): void {
  const route: Marked = (c) => {
    const handler = files.get(c.req.path);
    if (handler === undefined) return c.notFound();
    const method = c.req.method;
    return method === "GET" || method === "HEAD" ? handler(c.req.raw) : methodNotAllowed(c);
  };
  route[RAW] = files;
  app.all(`${prefix}/*`, route);
}

/** The raw handlers of an app's marked routes, by path. */
export interface FastPath {
  /** The raw handler answering `GET path`, or `undefined` for Hono to route. */
  handler(path: string): RawHandler | undefined;
  /** The route pattern of `path` (such as `/static/*`), for metrics labels. */
  pattern(path: string): string;
}

/**
 * Collect the marked routes of `app` (read once: call it after every route is added). The
 * first route of a path wins, as in Hono's router; middleware is not a route.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono();
 * getRaw(app, "/health", () => new Response("ok"));
 * fastPath(app).handler("/health"); // the raw handler
 * ```
 */
export function fastPath(app: Hono): FastPath {
  // Every path a marked route answers, merged into one map: one lookup per request, whether
  // the route is exact or a folder's wildcard.
  const paths = new Map<string, { handler: RawHandler; pattern: string }>();
  const seen = new Set<string>();
  for (const route of app.routes) {
    if (route.method !== "GET" && route.method !== "ALL") continue;
    const raw = (route.handler as Marked)[RAW];
    const first = !seen.has(route.path);
    seen.add(route.path);
    if (raw === undefined || !first) continue;
    for (const [path, handler] of raw) {
      if (!paths.has(path)) paths.set(path, { handler, pattern: route.path });
    }
  }
  return {
    handler: (path) => paths.get(path)?.handler,
    pattern: (path) => paths.get(path)?.pattern ?? path,
  };
}
