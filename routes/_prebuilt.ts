/**
 * Responses built once and cloned per request: `clone()` copies an already validated header
 * list, where `new Response(body, { headers })` validates every header again (docs/bench.md).
 * Each carries its `Content-Length`, so HEAD (Hono keeps GET's headers) reports GET's length.
 *
 * @module
 */
import type { HeaderList } from "./_security_headers.ts";

/** A handler that needs nothing but the request, so it can answer before any router runs. */
export type RawHandler = (request: Request) => Response;

/** A body a prebuilt response can hold. */
export type Body = string | Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();

/**
 * A response whose headers include its `Content-Length`.
 *
 * @example
 * ```ts
 * const res = fixedResponse("ok", [["content-type", "text/plain"]]);
 * res.headers.get("content-length"); // "2"
 * ```
 */
export function fixedResponse(body: Body, headers: HeaderList, status = 200): Response {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  return new Response(bytes, {
    status,
    headers: [...headers, ["content-length", String(bytes.byteLength)]],
  });
}

/**
 * Whether a list of entity tags (an `If-None-Match` or `If-Match` value) matches `etag`: `*`,
 * or one of its tags equal to `etag`. `weak` comparison (RFC 9110 8.8.3.2, what
 * `If-None-Match` uses) also takes `W/` + `etag`; `strong` (what `If-Match` uses, 13.1.1)
 * never matches a weak tag.
 *
 * @example
 * ```ts
 * etagListMatches('"a", W/"b"', '"b"', "weak"); // true
 * etagListMatches('W/"b"', '"b"', "strong"); // false
 * ```
 */
export function etagListMatches(
  list: string,
  etag: string,
  comparison: "weak" | "strong",
): boolean {
  if (list === etag || list.trim() === "*") return true;
  for (const candidate of list.split(",")) {
    const tag = candidate.trim();
    if (tag === etag || (comparison === "weak" && tag === `W/${etag}`)) return true;
  }
  return false;
}

/** Options of {@linkcode prebuilt}. */
export interface PrebuiltOptions {
  /** Headers of the 200 answer, without `ETag` and `Content-Length`. */
  headers: HeaderList;
  /** The entity tag; with it, a matching `If-None-Match` gets a bodiless 304. */
  etag?: string;
}

/**
 * A handler answering `body` from a response built once: a 200; with an ETag, a 412 when the
 * client's `If-Match` does not hold (checked first, RFC 9110 13.2.2), else a bodiless 304 when
 * its `If-None-Match` matches. The 304 and the 412 keep the security and cache headers.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono();
 * const theme = prebuilt(":root{}", { headers: [], etag: '"1"' });
 * app.get("/theme.css", (c) => theme(c.req.raw));
 * ```
 */
export function prebuilt(body: Body, options: PrebuiltOptions): RawHandler {
  const { etag } = options;
  if (etag === undefined) {
    const response = fixedResponse(body, options.headers);
    return () => response.clone();
  }
  const response = fixedResponse(body, [...options.headers, ["etag", etag]]);
  const bodiless: HeaderList = [
    ...options.headers.filter(([name]) => name !== "content-type"),
    ["etag", etag],
  ];
  const notModified = new Response(null, { status: 304, headers: bodiless });
  const preconditionFailed = fixedResponse("Precondition failed\n", [
    ...bodiless,
    ["content-type", "text/plain; charset=utf-8"],
  ], 412);
  return (request) => {
    const { headers } = request;
    const ifMatch = headers.get("if-match");
    if (ifMatch !== null && !etagListMatches(ifMatch, etag, "strong")) {
      return preconditionFailed.clone();
    }
    const ifNoneMatch = headers.get("if-none-match");
    return ifNoneMatch !== null && etagListMatches(ifNoneMatch, etag, "weak")
      ? notModified.clone()
      : response.clone();
  };
}
