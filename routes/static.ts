/**
 * Files under static/, served by Hono's `serveStatic`. Hono rejects `..` segments, doubled or
 * back slashes and encoded dots before any lookup, so no request leaves the root.
 *
 * The folder is small and ours, so it is read once, at start-up, and served from memory:
 * Hono's Deno adapter opens and streams the file on every request, which measured about a
 * tenth of the throughput of the other routes. Reading at start-up also gives every file a
 * strong ETag from its content. `deno task dev` restarts on changes under static/, and a
 * compiled binary reads the folder from its embedded file system.
 *
 * The files have no fingerprint in their names, so browsers must revalidate them
 * (`Cache-Control: no-cache`); the ETag turns those revalidations into bodiless 304 answers.
 *
 * @module
 */
import { Hono } from "hono";
import { etag } from "hono/etag";
import { serveStatic } from "hono/serve-static";
import { contentTag } from "./_content_tag.ts";
import { type HeaderList, securityHeaders } from "./_security_headers.ts";

/** Refuse to hold more than this in memory: static/ is for a page's assets, not a CDN. */
export const MAX_STATIC_BYTES = 32 * 1024 * 1024;

interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  etag: string;
}

/** Read every file under `root`, keyed by `root` + `/` + its relative path. */
export function loadStaticFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let total = 0;
  function walk(dir: string) {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) {
        const body = Deno.readFileSync(path);
        total += body.byteLength;
        if (total > MAX_STATIC_BYTES) {
          throw new Error(
            `Cannot serve static files: ${root} holds more than ${MAX_STATIC_BYTES} bytes (at ${path})`,
          );
        }
        files.set(path, { body, etag: contentTag(body) });
      }
    }
  }
  walk(root);
  return files;
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
  const files = loadStaticFiles(options.root);
  const app = new Hono();
  app.use(`${prefix}/*`, securityHeaders(options.headers));
  app.use(`${prefix}/*`, etag());
  app.use(
    `${prefix}/*`,
    serveStatic({
      root: options.root,
      // Hono has already refused "..", "//" and "\\" in the path: joining is concatenation,
      // and matches the keys of loadStaticFiles.
      join: (root, path) => `${root}${path}`,
      rewriteRequestPath: (path) => path.slice(prefix.length),
      // Only files found at start-up exist: nothing else under the root is ever opened.
      getContent: (path) => Promise.resolve(files.get(path)?.body ?? null),
      onFound: (path, c) => {
        c.header("ETag", files.get(path)!.etag);
        c.header("Cache-Control", "no-cache");
      },
    }),
  );
  return app;
}
