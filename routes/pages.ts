/**
 * The HTML pages and their theme stylesheet. Everything they show comes from the
 * configuration, so each is rendered once, when the app is created, and served as a constant:
 * the live clock is the only thing that changes, and the browser fetches it from `/time`.
 *
 * @module
 */
import { Hono } from "hono";
import type { HonoApp } from "./_hono.ts";
import { Eta as EtaCore } from "eta/core";
import { contentTag } from "./_content_tag.ts";
import { getRaw } from "./_fast_path.ts";
import { prebuilt } from "./_prebuilt.ts";
import type { HeaderList } from "./_security_headers.ts";
import { themeCss, themeFor } from "./_theme.ts";

/**
 * Eta's core build reading templates with Deno's file API. The default build imports node:fs
 * and node:path, which load Deno's Node compatibility layer: measured, about 15 ms of start-up
 * and some memory for two file reads.
 */
class DenoEta extends EtaCore {
  override readFile = (path: string): string => Deno.readTextFileSync(path);
  override resolvePath = (template: string): string => {
    const name = template.replace(/^\.\//, "");
    if (!/^[\w-]+(\.eta)?$/.test(name)) throw new Error(`Unsupported template name "${template}"`);
    return `${this.config.views}/${name.endsWith(".eta") ? name : `${name}.eta`}`;
  };
}

/** What the page shows. */
export interface PageData {
  /** The page's background colour, a validated CSS colour token. */
  backgroundColor: string;
  /** The message card's text (escaped when rendered). */
  message: string;
  /** The container-ID card's text (escaped when rendered). */
  hostname: string;
}

/** Pre-rendered pages and their theme stylesheet. */
export interface RenderedPages {
  /** `/`: the page, rendered for the configuration. */
  index: string;
  /** The HTML 404 page. */
  notFound: string;
  /** `/theme.css`: the configured background colour, and text and link colours readable on it. */
  themeCss: string;
}

/**
 * Render the pages from the Eta templates in `views`. Eta escapes `<%= %>` output, so no
 * configured value reaches the page as markup.
 *
 * @example
 * ```ts
 * const pages = renderPages(new URL("../templates", import.meta.url).pathname, {
 *   backgroundColor: "white",
 *   message: "Hi",
 *   hostname: "local",
 * });
 * ```
 */
export function renderPages(views: string, data: PageData): RenderedPages {
  const eta = new DenoEta({ views, autoEscape: true, cache: true, autoTrim: false });
  // The colour is validated to a colour name or a hex value by config/mod.ts, so it cannot end
  // the rule. It goes in a stylesheet of its own: an inline style would need a CSP exception.
  // Text and link colours follow the background's luminance (routes/_theme.ts).
  return {
    index: eta.render("./index", data),
    notFound: eta.render("./not_found", {}),
    themeCss: themeCss(themeFor(data.backgroundColor)),
  };
}

/** Dependencies of {@linkcode createPageRoutes}. */
export interface PageOptions {
  /** The pages to serve. */
  pages: RenderedPages;
  /** The security headers every page answer carries. */
  headers: HeaderList;
}

/** `GET /`: the start page; `GET /theme.css`: its configured colours. */
export function createPageRoutes(options: PageOptions): HonoApp {
  const html: HeaderList = [
    ...options.headers,
    ["content-type", "text/html; charset=utf-8"],
    ["cache-control", "no-cache"],
  ];
  const css: HeaderList = [
    ...options.headers,
    ["content-type", "text/css; charset=utf-8"],
    ["cache-control", "no-cache"],
  ];
  const { index, themeCss } = options.pages;
  const app = new Hono();
  getRaw(app, "/", prebuilt(index, { headers: html }));
  getRaw(app, "/theme.css", prebuilt(themeCss, { headers: css, etag: contentTag(themeCss) }));
  return app;
}
