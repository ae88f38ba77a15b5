/**
 * Waiting: sleeps, polling until a condition holds, and HTTP requests with a timeout.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * await delay(100);
 * ```
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@linkcode poll}. */
export interface PollOptions {
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
}

/**
 * Calls `attempt` until it returns a value other than `undefined` or the time is up; resolves
 * to that value, or `undefined` on timeout. An attempt that throws stops the polling.
 *
 * @example
 * ```ts
 * const status = await poll(async () => (await fetchText(url)).status === 200 || undefined, {
 *   timeoutMs: 5000,
 * });
 * ```
 */
export async function poll<T>(
  attempt: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<T | undefined> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (performance.now() >= deadline) return undefined;
    await delay(options.intervalMs ?? 100);
  }
}

/** A response with its body read as text. */
export interface Fetched {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body as text. */
  body: string;
  /** Time to the full body in milliseconds. */
  ms: number;
}

/**
 * GETs `url` without following redirects; throws on network errors and timeouts.
 *
 * @example
 * ```ts
 * const { status, body } = await fetchText("http://127.0.0.1:8080/health");
 * ```
 */
export async function fetchText(url: string, timeoutMs = 5000): Promise<Fetched> {
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
