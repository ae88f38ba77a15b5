/**
 * Files under static/, read once at start-up and served from responses built then. The map of
 * files read is the allowlist: regular files only, no dotfiles, symbolic links skipped with a
 * warning (a link can point anywhere), so no request reaches a file outside it. Names carry no
 * fingerprint: `Cache-Control: no-cache`, and the ETag makes revalidations bodiless 304s.
 *
 * @module
 */
import { Hono } from "hono";
import type { HonoApp, HonoContext } from "./_hono.ts";
import { getMimeType } from "hono/utils/mime";
import { contentTag } from "./_content_tag.ts";
import { filesUnder } from "./_fast_path.ts";
import { prebuilt, type RawHandler } from "./_prebuilt.ts";
import type { HeaderList } from "./_security_headers.ts";

/** Refuse to hold more than this in memory: static/ is for a page's assets, not a CDN. */
export const MAX_STATIC_BYTES = 32 * 1024 * 1024;

/** One file of the allowlist. */
export interface StaticFile {
  /** The file's bytes, read once. */
  body: Uint8Array<ArrayBuffer>;
  /** Its strong ETag, from its content. */
  etag: string;
  /** Its `content-type` header. */
  contentType: string;
}

/** What {@linkcode loadStaticFiles} read, and what it skipped. */
export interface StaticFiles {
  /** Keyed by the path relative to the root, with a leading `/`, such as `/style.css`. */
  files: Map<string, StaticFile>;
  /** Symbolic links that were not followed, relative to the root. */
  skippedLinks: string[];
}

/** The `Content-Type` of a file name; text types say their charset. */
export function contentTypeOf(name: string): string {
  const type = getMimeType(name) ?? "application/octet-stream";
  const textual = /^text\/|^application\/(?:json|javascript|xml)|^image\/svg\+xml/.test(type);
  return textual && !type.includes("charset") ? `${type}; charset=utf-8` : type;
}

/**
 * Read every regular, non-hidden file under `root`.
 *
 * @throws {Error} when the files hold more than {@linkcode MAX_STATIC_BYTES}
 */
export function loadStaticFiles(root: string): StaticFiles {
  const files = new Map<string, StaticFile>();
  const skippedLinks: string[] = [];
  let total = 0;
  function walk(relative: string) {
    const entries = [...Deno.readDirSync(`${root}${relative}`)]
      .sort((a, b) => a.name < b.name ? -1 : 1);
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const path = `${relative}/${entry.name}`;
      if (entry.isSymlink) skippedLinks.push(path.slice(1));
      else if (entry.isDirectory) walk(path);
      else if (entry.isFile) {
        const body = Deno.readFileSync(`${root}${path}`);
        total += body.byteLength;
        if (total > MAX_STATIC_BYTES) {
          throw new Error(
            `Cannot serve static files: ${root} holds more than ${MAX_STATIC_BYTES} bytes (at ${root}${path})`,
          );
        }
        files.set(path, { body, etag: contentTag(body), contentType: contentTypeOf(entry.name) });
      }
    }
  }
  walk("");
  return { files, skippedLinks };
}

/** Options of {@linkcode createStaticRoutes}. */
export interface StaticOptions {
  /** Absolute path of the static folder. */
  root: string;
  /** URL prefix the files are served under. */
  prefix?: string;
  /** Security headers for the files (some are HTML documents). */
  headers: HeaderList;
  /** The answer to a method other than GET or HEAD on a file that exists. */
  methodNotAllowed: (c: HonoContext) => Response;
  /** Told once about what was skipped, such as symbolic links. */
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

/**
 * `GET /static/<file>`: each allowed file from `root`, with its content type, ETag and
 * `Cache-Control: no-cache`; a matching `If-None-Match` gets 304.
 *
 * @example
 * ```ts
 * const files = createStaticRoutes({
 *   root: "/app/static",
 *   headers: [],
 *   methodNotAllowed: () => new Response(null, { status: 405, headers: { allow: "GET, HEAD" } }),
 * });
 * const res = await files.request("/static/style.css");
 * ```
 */
export function createStaticRoutes(options: StaticOptions): HonoApp {
  const prefix = options.prefix ?? "/static";
  const { files, skippedLinks } = loadStaticFiles(options.root);
  if (skippedLinks.length) {
    options.warn?.("static: symbolic links are not served", {
      root: options.root,
      skipped: skippedLinks,
    });
  }
  const handlers = new Map<string, RawHandler>();
  for (const [path, file] of files) {
    handlers.set(
      `${prefix}${path}`,
      prebuilt(file.body, {
        headers: [
          ...options.headers,
          ["content-type", file.contentType],
          ["cache-control", "no-cache"],
        ],
        etag: file.etag,
      }),
    );
  }
  const app = new Hono();
  filesUnder(app, prefix, handlers, options.methodNotAllowed);
  return app;
}
