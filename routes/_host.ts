/**
 * The `Host` check that runs before routing. Deno builds `request.url` by pasting the Host
 * header in front of the request's path, so `Host: x/static/style.css?` turned `GET /health`
 * into `GET /static/style.css?/health`. A Host must therefore be a plain `host[:port]`: a DNS
 * name or IPv4 address (letters, digits, `.`, `-`, `_`) or a bracketed IPv6 address, and an
 * optional port; anything holding `/ ? # @ \`, whitespace or controls is refused.
 *
 * @module
 */

const VALID_HOST = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/**
 * Whether a request's `Host` header is acceptable. `null` (no header) is acceptable only for
 * a request that did not come over a connection (`fromSocket` false), such as a test's
 * `app.request()`: a request on a socket that names no host gets 400 (RFC 9112, 3.2). Deno
 * does not say which HTTP version a request used, so this holds for HTTP/1.0 and HTTP/2
 * (which carries `:authority`, not `Host`) alike.
 *
 * @example
 * ```ts
 * validHost("example.com:8080", true); // true
 * validHost("x/static/style.css?", true); // false
 * ```
 */
export function validHost(host: string | null, fromSocket: boolean): boolean {
  return host === null ? !fromSocket : VALID_HOST.test(host);
}
