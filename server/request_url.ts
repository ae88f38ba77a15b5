/**
 * Where the parts of a request's URL begin, as Deno builds it (`http://AUTHORITY/PATH?QUERY`):
 * found with `indexOf`, not `new URL()` (a whole parse per request). The access log, the Host
 * check and the routes' fast path all read a request's path here.
 *
 * @example
 * ```ts
 * import { pathStart } from "./request_url.ts";
 * const url = "http://localhost:8080/time?x=1";
 * url.slice(pathStart(url)); // "/time?x=1"
 * ```
 *
 * @module
 */

/**
 * The index of the URL's authority (`host[:port]`): just past its `//`.
 *
 * @example
 * ```ts
 * authorityStart("http://localhost/"); // 7
 * ```
 */
export function authorityStart(url: string): number {
  return url.indexOf("//") + 2;
}

/**
 * The index where the URL's path begins, searching from `from` (by default its authority), or
 * the URL's length when it has none (CONNECT's `http://host:port`).
 *
 * @example
 * ```ts
 * pathStart("http://localhost:8080/health"); // 21
 * pathStart("http://example.com:443"); // 22
 * ```
 */
export function pathStart(url: string, from: number = authorityStart(url)): number {
  const slash = url.indexOf("/", from);
  return slash === -1 ? url.length : slash;
}
