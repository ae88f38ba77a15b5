/**
 * Security headers as constant lists, computed once per app, that handlers pass straight to
 * their `Response` (Hono's `secureHeaders()` middleware copies them onto each response). Two
 * sets, as every header byte costs throughput (docs/bench.md): documents get the full policy,
 * JSON answers the one OWASP recommends for APIs.
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
