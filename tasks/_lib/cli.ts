/**
 * The conventions every task follows: `main(args): Promise<number>`, flags parsed with
 * `node:util` `parseArgs`, one usage-error format (`TOOL: MESSAGE` + a `--help` hint, exit 2),
 * progress on stderr and results on stdout, exit 130/143 on SIGINT/SIGTERM after clean-up,
 * and JSON reports that share their top-level keys.
 *
 * @example
 * ```ts
 * export async function main(args: string[]): Promise<number> {
 *   const flags = parseFlags(args, { force: { type: "boolean", default: false } });
 *   progress("build", "working");
 *   return 0;
 * }
 * if (import.meta.main) runTask("build", main);
 * ```
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { disposeOpenStacks } from "./cleanup.ts";
import { killRunning } from "./process.ts";

/** A mistake in the command line; {@linkcode runTask} prints it and exits 2. */
export class UsageError extends Error {
  /** Always `"UsageError"`. */
  override name = "UsageError";
}

/** Flag definitions, as `node:util` `parseArgs` takes them. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/** The `-h/--help` flag {@linkcode parseFlags} adds to every task. */
export type HelpFlag = { help: { type: "boolean"; short: "h"; default: false } };

/** What {@linkcode parseFlags} returns: typed `values` and the `positionals`. */
export type ParsedFlags<T extends FlagOptions> = ReturnType<
  typeof parseArgs<
    { args: string[]; strict: true; allowPositionals: boolean; options: T & HelpFlag }
  >
>;

/**
 * Parses flags strictly (unknown flags and positionals are usage errors), with `-h/--help`
 * always defined.
 *
 * @example
 * ```ts
 * const { values } = parseFlags(["--json", "r.json"], { json: { type: "string" } });
 * values.json; // "r.json"
 * ```
 */
export function parseFlags<T extends FlagOptions>(
  args: string[],
  options: T,
  config: { positionals?: boolean } = {},
): ParsedFlags<T> {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: config.positionals ?? false,
      options: { ...options, help: { type: "boolean", short: "h", default: false } } as
        & T
        & HelpFlag,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]);
  }
}

/**
 * Prints a usage error in the one format and returns exit code 2.
 *
 * @example
 * ```ts
 * return usageError("bench", "--duration must be a positive number");
 * ```
 */
export function usageError(tool: string, message: string): number {
  console.error(`${tool}: ${message}\nRun with --help for usage.`);
  return 2;
}

/**
 * Writes one progress line to stderr, prefixed with the tool's name (stdout is for results).
 *
 * @example
 * ```ts
 * progress("images:standin", "importing swft-standin/deno:2.9.6");
 * ```
 */
export function progress(tool: string, message: string): void {
  console.error(`${tool}: ${message}`);
}

let stopping: Deno.Signal | undefined;

/** The signal being handled, or `undefined`: a task checks it before printing results. */
export function interrupted(): Deno.Signal | undefined {
  return stopping;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs a task's `main` as the program: usage errors exit 2 with the one format; SIGINT and
 * SIGTERM stop the children `run` started, dispose every open `CleanupStack` (what
 * the run created) and exit 130 / 143; otherwise the exit code is `main`'s.
 */
export async function runTask(
  tool: string,
  main: (args: string[]) => Promise<number>,
): Promise<never> {
  let exiting: Promise<never> | undefined;
  for (const [signal, code] of Object.entries(SIGNAL_EXIT) as [Deno.Signal, number][]) {
    Deno.addSignalListener(signal, () => {
      exiting ??= (async () => {
        stopping = signal;
        console.error(`\n${tool}: ${signal}, cleaning up`);
        killRunning();
        await disposeOpenStacks();
        Deno.exit(code);
      })();
    });
  }
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (!(error instanceof UsageError)) {
      if (exiting) await exiting;
      throw error;
    }
    code = usageError(tool, error.message);
  }
  if (exiting) await exiting;
  Deno.exit(code);
}

/** The top-level keys every task's JSON report starts with. */
export interface ReportHead {
  /** The tool that wrote the report, e.g. `swft-verify`. */
  tool: string;
  /** True when the run met every expectation. */
  ok: boolean;
  /** ISO time the run started. */
  startedAt: string;
  /** ISO time the run finished. */
  finishedAt?: string;
  /** Wall time of the run in milliseconds. */
  totalMs?: number;
}

/**
 * A report head for a run starting now; complete it with {@linkcode finishReport}.
 *
 * @example
 * ```ts
 * const report = { ...startReport("swft-bench"), results: [] };
 * ```
 */
export function startReport(tool: string): ReportHead {
  return { tool, ok: false, startedAt: new Date().toISOString() };
}

/** Sets `ok`, `finishedAt` and `totalMs` (from `startedAt`) on a report. */
export function finishReport<T extends ReportHead>(report: T, ok: boolean): T {
  report.ok = ok;
  report.finishedAt = new Date().toISOString();
  report.totalMs = Date.parse(report.finishedAt) - Date.parse(report.startedAt);
  return report;
}

/**
 * Writes a JSON report to `path` (pretty, with a final newline).
 *
 * @example
 * ```ts
 * await writeReport("verify-report.json", report);
 * ```
 */
export async function writeReport(path: string, report: ReportHead): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
}
