/**
 * Security headers, computed once per app. Hono's `secureHeaders()` builds its header set once
 * too (since 4.13) but, as a middleware, still copies every header onto each response after the
 * handler ran; here each set is a constant list that handlers pass straight to their `Response`.
 *
 * Two sets, because every header byte costs throughput (on loopback, 600 bytes of headers
 * halve the requests/s of a tiny response): documents (pages, static files, error pages) get
 * the full policy, and JSON answers the policy OWASP recommends for APIs, which is all a
 * non-document needs.
 *
 * @module
 */
/** A header list that can be given to `new Response(body, { headers })`. */
export type HeaderList = Array<[string, string]>;

const COMMON: HeaderList = [
  ["cross-origin-opener-policy", "same-origin"],
  ["cross-origin-resource-policy", "same-origin"],
  ["referrer-policy", "no-referrer"],
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
];

/** Headers for HTML and other documents: a strict CSP that allows only this origin's files. */
export function documentHeaders(): HeaderList {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return [
    ["content-security-policy", csp],
    ...COMMON,
    ["permissions-policy", "camera=(), geolocation=(), microphone=()"],
  ];
}

/** Headers for JSON answers: nothing may load or frame them. */
export function apiHeaders(): HeaderList {
  return [["content-security-policy", "default-src 'none'; frame-ancestors 'none'"], ...COMMON];
}
