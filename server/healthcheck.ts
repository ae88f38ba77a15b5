/**
 * The `healthcheck` probe: asks a running server's `/health`. Kept apart from the server and
 * its dependencies, as the image's HEALTHCHECK starts it every 30 s beside the server and
 * its memory counts against the container's limit.
 *
 * @module
 */
import { ConfigError, type Env, quoteValue, readVariables } from "../config/env.ts";

/** Host a local client should dial to reach a server bound to `host`. */
export function localHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Options of {@linkcode checkHealth}. */
export interface HealthcheckOptions {
  /** Give up after this long, in milliseconds. */
  timeoutMs?: number;
}

/**
 * Ask a running server's `/health`. Resolves to `null` when it answered 200 `{"status":"ok"}`,
 * or to a sentence saying what went wrong. Used by `main.ts healthcheck`, which the image's
 * HEALTHCHECK runs: the runtime image has no shell and no curl.
 */
export async function checkHealth(
  baseUrl: string,
  options: HealthcheckOptions = {},
): Promise<string | null> {
  const url = `${baseUrl}/health`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
    const text = await response.text();
    if (response.status !== 200) return `${url} answered ${response.status}`;
    let status: unknown;
    try {
      status = JSON.parse(text)?.status;
    } catch {
      status = undefined;
    }
    return status === "ok" ? null : `${url} answered an unexpected body: ${text.slice(0, 100)}`;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `${url} could not be reached: ${reason}`;
  }
}

/**
 * The URL of `/health` on the server that `env`'s PORT and HOST describe, read with the
 * defaults of config/mod.ts but without its schema (kept light: see the module comment).
 *
 * @throws {ConfigError} when PORT or HOST cannot name a server to ask
 */
export function healthcheckUrl(env: Env): string {
  const port = env.PORT || "8080";
  const host = env.HOST || "0.0.0.0";
  const problems: string[] = [];
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    problems.push(`PORT must be an integer from 1 to 65535, got ${quoteValue(port)}`);
  }
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host)) {
    problems.push(`HOST must be an IP address or a host name, got ${quoteValue(host)}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return `http://${localHost(host)}:${Number(port)}`;
}

/** `main.ts healthcheck`: resolves to 0 when the server that PORT and HOST name is healthy, else 1. */
export async function healthcheck(): Promise<number> {
  let baseUrl;
  try {
    baseUrl = healthcheckUrl(readVariables(["PORT", "HOST"]));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`Unhealthy: ${problem}`);
    return 1;
  }
  const problem = await checkHealth(baseUrl);
  if (problem) {
    console.error(`Unhealthy: ${problem}`);
    return 1;
  }
  return 0;
}
