/**
 * Assembles the SWFT application from a {@linkcode Config}. The app is a plain Hono instance:
 * serve it with `Deno.serve(app.fetch)`, or test it with `app.request()` and no socket.
 *
 * @example
 * ```ts
 * import { createApp } from "./routes/mod.ts";
 * import { parseConfig } from "./config.ts";
 * const app = createApp(parseConfig({}));
 * const res = await app.request("/health");
 * console.log(res.status); // 200
 * ```
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { accepts } from "hono/accepts";
import type { Config } from "../config.ts";
import { createApiRoutes } from "./api.ts";
import { createPageRoutes, renderPages } from "./pages.ts";
import { createStaticRoutes } from "./static.ts";
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
}

/** Build the Hono app for one configuration. Reads and renders its files once, here. */
export function createApp(config: Config, options: AppOptions = {}): Hono {
  const root = options.root ?? APP_ROOT;
  const pages = renderPages(`${root}/templates`, {
    backgroundColor: config.backgroundColor,
    message: config.customMessage,
    hostname: config.hostname,
  });
  const documents = documentHeaders();
  const api = apiHeaders();
  // No app-wide middleware: the hot routes answer synchronously with precomputed headers.
  const app = new Hono();
  app.route("/", createPageRoutes({ pages, headers: documents }));
  app.route("/", createApiRoutes({ headers: api, now: options.now, ready: options.ready }));
  app.route("/", createStaticRoutes({ root: `${root}/static`, headers: documents }));

  const htmlHeaders: HeaderList = [...documents, ["content-type", "text/html; charset=utf-8"]];
  const jsonHeaders: HeaderList = [...api, ["content-type", "application/json"]];
  const errorPage = "<!DOCTYPE html><title>Error</title><h1>Internal server error</h1>";
  function problem(c: Context, status: 404 | 500) {
    const wantsJson = accepts(c, {
      header: "Accept",
      supports: ["text/html", "application/json"],
      default: "text/html",
    }) === "application/json";
    if (wantsJson) {
      const error = status === 404 ? "Not found" : "Internal server error";
      return new Response(JSON.stringify({ error, status }), { status, headers: jsonHeaders });
    }
    const body = status === 404 ? pages.notFound : errorPage;
    return new Response(body, { status, headers: htmlHeaders });
  }
  app.notFound((c) => problem(c, 404));
  app.onError((error, c) => {
    options.onError?.(error, c.req.raw);
    return problem(c, 500);
  });
  return app;
}
