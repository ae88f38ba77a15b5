/**
 * The `Host` check that runs before routing. Deno builds `request.url` by pasting the Host
 * header in front of the request's path, so `Host: x/static/style.css?` turned `GET /health`
 * into `GET /static/style.css?/health`. A Host must therefore be a plain `host[:port]`: a DNS
 * name or IPv4 address (letters, digits, `.`, `-`, `_`) or a bracketed IPv6 address, and an
 * optional port from 0 to 65535; anything holding `/ ? # @ \`, whitespace or controls is
 * refused.
 *
 * The URL's own authority is held to the same rule: it is where HTTP/2's `:authority` (h2c
 * sends no Host header) and an absolute-form target (`GET http://x/ HTTP/1.1`) land. A request
 * with no Host at all (HTTP/1.0 health checks, such as HAProxy's `OPTIONS / HTTP/1.0`) carries
 * no authority of the client's: Deno fills in `localhost:PORT`, which passes.
 *
 * @module
 */
import { authorityStart, pathStart } from "../server/request_url.ts";

const PORT = "(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
const VALID_HOST = new RegExp(`^(?:[A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\])(?::${PORT})?$`);

/**
 * Whether `host` (a Host header or a URL's authority) is a plain `host[:port]`.
 *
 * @example
 * ```ts
 * validHost("example.com:8080"); // true
 * validHost("x/static/style.css?"); // false
 * validHost("a:99999"); // false: no such port
 * ```
 */
export function validHost(host: string): boolean {
  return VALID_HOST.test(host);
}

/**
 * The authority of an absolute `url` as Deno wrote it: the text between `//` and the next `/`
 * (Deno always writes one: an asterisk-form or authority-form target still gets a path).
 *
 * @example
 * ```ts
 * urlAuthority("http://localhost:8080/health"); // "localhost:8080"
 * ```
 */
export function urlAuthority(url: string): string {
  return url.slice(authorityStart(url), pathStart(url));
}

/**
 * Whether a request may be routed: its Host header, when it has one, and the authority its URL
 * was built with are both plain `host[:port]`.
 *
 * @example
 * ```ts
 * acceptableHost(new Request("http://localhost/health")); // true
 * acceptableHost(new Request("http://localhost/", { headers: { host: "a b" } })); // false
 * ```
 */
export function acceptableHost(request: Request): boolean {
  const host = request.headers.get("host");
  return (host === null || VALID_HOST.test(host)) && VALID_HOST.test(urlAuthority(request.url));
}
