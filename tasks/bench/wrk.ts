/**
 * Runs wrk against one URL and reads its results from the JSON line that report.lua prints.
 *
 * @module
 */
import { run } from "../_lib/mod.ts";

/** How to get wrk when it is missing. */
export const WRK_INSTALL_HINT: string =
  "wrk is not installed. Install it from Debian or Ubuntu with `sudo apt-get install -y wrk` " +
  "(macOS: `brew install wrk`), then run `deno task bench` again";

const MARKER = "SWFT_BENCH_JSON ";
const SCRIPT = new URL("./report.lua", import.meta.url).pathname;

/** Socket and HTTP errors as wrk counts them; `status` is responses with a status of 400 or more. */
export interface WrkErrors {
  /** Connections that failed. */
  connect: number;
  /** Failed reads. */
  read: number;
  /** Failed writes. */
  write: number;
  /** Responses with a status of 400 or more. */
  status: number;
  /** Requests that timed out. */
  timeout: number;
}

/** One wrk run. */
export interface WrkResult {
  /** Requests completed. */
  requests: number;
  /** Length of the run in microseconds. */
  durationUs: number;
  /** Bytes read. */
  bytes: number;
  /** Errors by kind. */
  errors: WrkErrors;
  /** Latency in microseconds: minimum, mean, maximum and percentiles. */
  latencyUs: { min: number; mean: number; max: number; p50: number; p90: number; p99: number };
  /** `requests` per second of `durationUs`. */
  requestsPerSec: number;
  /** wrk's own "Non-2xx or 3xx responses" count, 0 when it printed none. */
  non2xx3xx: number;
}

/** Parse wrk's stdout, which must contain the line report.lua prints. */
export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split("\n").find((text) => text.startsWith(MARKER));
  if (!line) {
    throw new Error(`No ${MARKER.trim()} line in wrk's output: ${stdout.slice(0, 300)}`);
  }
  const data = JSON.parse(line.slice(MARKER.length));
  for (const key of ["requests", "durationUs", "bytes"]) {
    if (typeof data[key] !== "number") throw new Error(`wrk's report lacks "${key}": ${line}`);
  }
  if (typeof data.errors !== "object" || typeof data.latencyUs !== "object") {
    throw new Error(`wrk's report lacks errors or latency: ${line}`);
  }
  const non2xx = stdout.match(/Non-2xx or 3xx responses:\s*(\d+)/);
  return {
    ...data,
    requestsPerSec: data.durationUs > 0 ? data.requests / (data.durationUs / 1e6) : 0,
    non2xx3xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/** Total of the errors that make a run invalid: socket errors, timeouts and bad statuses. */
export function errorCount(result: WrkResult): number {
  const { connect, read, write, status, timeout } = result.errors;
  return connect + read + write + timeout + Math.max(status, result.non2xx3xx);
}

/** Options of {@linkcode wrkArgs} and {@linkcode runWrk}. */
export interface WrkOptions {
  /** Open connections. */
  connections: number;
  /** Whole seconds; wrk has no finer unit. */
  durationSec: number;
  /** wrk threads; capped at `connections`. Default 2. */
  threads?: number;
  /** Each request takes the next of these paths (a mixed load) instead of the URL's. */
  paths?: readonly string[];
}

/** wrk's command-line arguments for one run against `url`. */
export function wrkArgs(url: string, options: WrkOptions): string[] {
  const threads = Math.max(1, Math.min(options.threads ?? 2, options.connections));
  return [
    `-t${threads}`,
    `-c${options.connections}`,
    `-d${Math.max(1, Math.round(options.durationSec))}s`,
    "--timeout",
    "2s",
    "-s",
    SCRIPT,
    url,
  ];
}

/** wrk's version (such as `debian/4.1.0-3+b2`), or `null` when wrk cannot be run. */
export async function wrkVersion(): Promise<string | null> {
  // `wrk --version` prints its version and usage, and exits 1.
  const { code, stdout } = await run("wrk", ["--version"]);
  if (code === 127) return null;
  return stdout.match(/^wrk (\S+)/)?.[1] ?? "unknown";
}

/** Run wrk against `url` (loopback only) and return its results. */
export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
    throw new Error(`Cannot load ${url}: the bench only loads loopback addresses`);
  }
  const env: Record<string, string> = { SWFT_BENCH_PATHS: (options.paths ?? []).join(" ") };
  const { code, stdout, stderr } = await run("wrk", wrkArgs(url, options), { env });
  if (code !== 0) throw new Error(`Cannot run wrk: exit code ${code}: ${stderr || stdout}`.trim());
  return parseWrkOutput(stdout);
}
