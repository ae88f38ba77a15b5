/** The rules HTTP answers and container logs must meet. */
import type { Fetched } from "../_lib/mod.ts";
import type { Probe } from "./config.ts";

/** A check verdict. */
export interface Verdict {
  /** True when the rule holds. */
  ok: boolean;
  /** What was seen, or what is wrong. */
  detail: string;
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * Judges a response by its probe: status, media type, texts it contains, JSON fields it
 * holds (each equal) and a regular expression the whole body matches.
 *
 * @example
 * ```ts
 * judgeProbe(fetched, { id: "http-health", path: "/health", status: 200, json: { status: "ok" } });
 * ```
 */
export function judgeProbe(res: Fetched, probe: Probe): Verdict {
  const fail = (detail: string) => ({ ok: false, detail: `${probe.path}: ${detail}` });
  if (res.status !== probe.status) return fail(`status ${res.status}, expected ${probe.status}`);
  const type = mediaType(res.headers);
  if (probe.contentType && type !== probe.contentType.toLowerCase()) {
    return fail(`content-type "${res.headers.get("content-type")}", expected ${probe.contentType}`);
  }
  const texts = typeof probe.contains === "string" ? [probe.contains] : probe.contains ?? [];
  const missing = texts.filter((t) => !res.body.includes(t));
  if (missing.length > 0) {
    return fail(`body lacks ${missing.map((t) => JSON.stringify(t)).join(", ")}`);
  }
  if (probe.json) {
    const json = parseJson(res.body) as Record<string, unknown> | undefined;
    const wrong = Object.entries(probe.json).filter(([key, value]) =>
      JSON.stringify(json?.[key]) !== JSON.stringify(value)
    );
    if (typeof json !== "object" || json === null || wrong.length > 0) {
      return fail(`body ${res.body.slice(0, 80)}, expected ${JSON.stringify(probe.json)}`);
    }
  }
  if (probe.matches && !new RegExp(probe.matches).test(res.body)) {
    return fail(`body ${res.body.slice(0, 80)} does not match ${probe.matches}`);
  }
  const has = texts.length > 0 ? `, has ${texts.map((t) => JSON.stringify(t)).join(", ")}` : "";
  return {
    ok: true,
    detail: `${probe.path}: ${res.status} ${type || "(no type)"}, ${res.body.length} bytes${has}`,
  };
}

/** Security headers every answer needs, with the values that count. */
export function judgeSecurityHeaders(headers: Headers): Verdict {
  const problems: string[] = [];
  const csp = headers.get("content-security-policy");
  if (!csp) problems.push("no Content-Security-Policy");
  if ((headers.get("x-content-type-options") ?? "").toLowerCase() !== "nosniff") {
    problems.push("X-Content-Type-Options is not nosniff");
  }
  const xfo = (headers.get("x-frame-options") ?? "").toUpperCase();
  if (xfo !== "DENY" && xfo !== "SAMEORIGIN" && !/frame-ancestors/.test(csp ?? "")) {
    problems.push("no X-Frame-Options DENY/SAMEORIGIN or CSP frame-ancestors");
  }
  if (!headers.get("referrer-policy")) problems.push("no Referrer-Policy");
  const powered = headers.get("x-powered-by");
  if (powered) problems.push(`X-Powered-By discloses "${powered}"`);
  if (problems.length > 0) return { ok: false, detail: problems.join("; ") };
  const present = [
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
  ].filter((h) => headers.has(h));
  return { ok: true, detail: `present: ${present.join(", ")}` };
}

/** Log lines that report errors: JSON level error/fatal, or an uncaught error/panic. */
export function errorLines(logs: string): string[] {
  return logs.split(/\r?\n/).filter((line) =>
    /"level"\s*:\s*"(error|fatal|critical)"/i.test(line) ||
    /^\s*(error|uncaught|panic|fatal)\b/i.test(line) ||
    /\b(ERROR|FATAL)\b/.test(line) && !line.trimStart().startsWith("{")
  );
}
