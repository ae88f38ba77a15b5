/**
 * The `healthcheck` probe: asks a running server's `/health`. Kept apart from the server and
 * its dependencies, as the image's HEALTHCHECK starts it every 30 s beside the server and
 * its memory counts against the container's limit.
 *
 * @module
 */

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
