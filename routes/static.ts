/**
 * Files under static/, served by Hono's Deno `serveStatic`. Hono rejects `..` segments, doubled
 * or back slashes and encoded dots before it touches the disk, so no request leaves the root.
 *
 * The files have no fingerprint in their names, so browsers must revalidate them
 * (`Cache-Control: no-cache`); a strong ETag from each file's content, hashed once at start-up,
 * turns those revalidations into bodiless 304 answers.
 *
 * @module
 */
import { Hono } from "hono";
import { etag } from "hono/etag";
import { serveStatic } from "hono/deno";
import { createHash } from "node:crypto";
import { join, relative, sep } from "node:path";
import { type HeaderList, securityHeaders } from "./_security_headers.ts";

function hashFiles(root: string, dir = root, tags = new Map<string, string>()) {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) hashFiles(root, path, tags);
    else if (entry.isFile) {
      const digest = createHash("sha256").update(Deno.readFileSync(path)).digest("base64url");
      tags.set(relative(root, path).split(sep).join("/"), `"${digest.slice(0, 27)}"`);
    }
  }
  return tags;
}

/** Options of {@linkcode createStaticRoutes}. */
export interface StaticOptions {
  /** Absolute path of the static folder. */
  root: string;
  /** URL prefix the files are served under. */
  prefix?: string;
  /** Security headers for the files (some are HTML documents). */
  headers: HeaderList;
}

/**
 * `GET /static/*`: files from `root`, with content types, ETags and conditional requests.
 *
 * @example
 * ```ts
 * const files = createStaticRoutes({ root: "/app/static", headers: [] });
 * const res = await files.request("/static/style.css");
 * ```
 */
export function createStaticRoutes(options: StaticOptions): Hono {
  const prefix = options.prefix ?? "/static";
  const tags = hashFiles(options.root);
  const app = new Hono();
  // A NUL byte makes Deno.open throw something other than NotFound, which serveStatic
  // reports with console.warn: refuse such paths before they reach the disk (and the log).
  app.use(`${prefix}/*`, async (c, next) => {
    if (/%00/i.test(c.req.url) || c.req.path.includes("\0")) return c.notFound();
    await next();
  });
  app.use(`${prefix}/*`, securityHeaders(options.headers));
  app.use(`${prefix}/*`, etag());
  app.use(
    `${prefix}/*`,
    serveStatic({
      root: options.root,
      rewriteRequestPath: (path) => path.slice(prefix.length),
      onFound: (path, c) => {
        const tag = tags.get(relative(options.root, path).split(sep).join("/"));
        if (tag) c.header("ETag", tag);
        c.header("Cache-Control", "no-cache");
      },
    }),
  );
  return app;
}
