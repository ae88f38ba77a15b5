/** HTTP probes against the container and the rules each response must meet. */

/** A fetched response, body read as text. */
export interface Fetched {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** A check verdict. */
export interface Verdict {
  ok: boolean;
  detail: string;
}

/** GETs `url` with a timeout; throws on network errors and timeouts. */
export async function get(url: string, timeoutMs = 5000): Promise<Fetched> {
  const started = performance.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  const body = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body,
    ms: performance.now() - started,
  };
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

/** GET /: 200, HTML, and every expected text present. */
export function judgeRoot(res: Fetched, expectText: string[]): Verdict {
  if (res.status !== 200) return { ok: false, detail: `status ${res.status}, expected 200` };
  if (mediaType(res.headers) !== "text/html") {
    return {
      ok: false,
      detail: `content-type "${res.headers.get("content-type")}", expected text/html`,
    };
  }
  const missing = expectText.filter((t) => !res.body.includes(t));
  if (missing.length > 0) {
    return { ok: false, detail: `body lacks ${missing.map((t) => JSON.stringify(t)).join(", ")}` };
  }
  return {
    ok: true,
    detail: `200 text/html, ${res.body.length} chars, has ${
      expectText.map((t) => JSON.stringify(t)).join(", ")
    }`,
  };
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body);
    return value && typeof value === "object" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** GET /health: 200 with JSON {"status":"ok"}. */
export function judgeHealth(res: Fetched): Verdict {
  const json = parseJson(res.body);
  if (res.status !== 200) return { ok: false, detail: `status ${res.status}, expected 200` };
  if (json?.status !== "ok") {
    return { ok: false, detail: `body ${res.body.slice(0, 80)}, expected {"status":"ok"}` };
  }
  return { ok: true, detail: `200 ${res.body.slice(0, 60)}` };
}

/**
 * GET /time: 200 with JSON {"time":"YYYY-MM-DD HH:MM:SS"} close to now. The server may use
 * any time zone, so "close" allows the widest UTC offsets (-12 h to +14 h) plus a minute.
 */
export function judgeTime(res: Fetched, now = new Date()): Verdict {
  if (res.status !== 200) return { ok: false, detail: `status ${res.status}, expected 200` };
  const time = parseJson(res.body)?.time;
  const match = typeof time === "string" &&
    /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(time);
  if (!match) {
    return {
      ok: false,
      detail: `body ${res.body.slice(0, 80)}, expected {"time":"YYYY-MM-DD HH:MM:SS"}`,
    };
  }
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  const offset = asUtc - now.getTime();
  if (offset < -12.1 * 3600_000 || offset > 14.1 * 3600_000) {
    return { ok: false, detail: `time ${time} is not the current time in any time zone` };
  }
  return { ok: true, detail: `200 ${time}` };
}

const STATIC_TYPES: Record<string, string> = {
  css: "text/css",
  js: "text/javascript",
  mjs: "text/javascript",
  html: "text/html",
  svg: "image/svg+xml",
  png: "image/png",
  json: "application/json",
  txt: "text/plain",
};

/** GET of a static file: 200, non-empty, and the content type its extension implies. */
export function judgeStatic(res: Fetched, path: string): Verdict {
  if (res.status !== 200) {
    return { ok: false, detail: `${path}: status ${res.status}, expected 200` };
  }
  if (res.body.length === 0) return { ok: false, detail: `${path}: empty body` };
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const expected = STATIC_TYPES[ext];
  const actual = mediaType(res.headers);
  const same = actual === expected ||
    (expected === "text/javascript" && actual === "application/javascript");
  if (expected && !same) {
    return { ok: false, detail: `${path}: content-type "${actual}", expected ${expected}` };
  }
  return { ok: true, detail: `${path}: 200 ${actual}, ${res.body.length} bytes` };
}

/** Security headers every page needs, with the values that count. */
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
  ]
    .filter((h) => headers.has(h));
  return { ok: true, detail: `present: ${present.join(", ")}` };
}

const BINARY_UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/**
 * Reads the usage half of `docker stats`' MemUsage ("12.5MiB / 23.6GiB"). The CLI only
 * offers this rounded form (3 significant digits), which is precise enough for a budget.
 */
export function parseMemUsage(text: string): number | undefined {
  const match = /^\s*([\d.]+)\s*([a-z]+)/i.exec(text);
  const factor = match ? BINARY_UNITS[match[2].toLowerCase()] : undefined;
  return match && factor !== undefined ? Math.round(Number(match[1]) * factor) : undefined;
}

/** Reads `docker stats`' CPUPerc ("0.53%"). */
export function parseCpu(text: string): number | undefined {
  const value = parseFloat(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Log lines that report errors: JSON level error/fatal, or an uncaught error/panic. */
export function errorLines(logs: string): string[] {
  return logs.split(/\r?\n/).filter((line) =>
    /"level"\s*:\s*"(error|fatal|critical)"/i.test(line) ||
    /^\s*(error|uncaught|panic|fatal)\b/i.test(line) ||
    /\b(ERROR|FATAL)\b/.test(line) && !line.trimStart().startsWith("{")
  );
}
