/**
 * `deno task verify [flags]`: build the Dockerfile's builder and runtime stages and prove
 * the runtime image (see `--help`). Exit 0 only when every check passes. Progress goes to
 * stderr; the summary table to stdout.
 *
 * @module
 */
import { interrupted, runTask, writeReport } from "./_lib/mod.ts";
import { HELP, parseVerifyArgs } from "./verify/args.ts";
import { createRun, runVerify } from "./verify/mod.ts";
import { exitCode, renderSummary } from "./verify/report.ts";

/** Runs verify with command-line `args`; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseVerifyArgs(args);
  if (options === "help") {
    console.log(HELP);
    return 0;
  }
  const tty = Deno.stderr.isTerminal();
  const color = tty && !Deno.env.get("NO_COLOR");
  let run;
  try {
    run = await createRun(options, { tty, color });
  } catch (error) {
    if (error instanceof Error && error.name !== "UsageError") {
      console.error(`verify: ${error.message}`);
      return 2;
    }
    throw error;
  }
  // Ctrl-C / SIGTERM: the kernel stops the docker children and disposes the run's clean-up
  const report = await runVerify(run);
  if (interrupted()) return 1; // the signal handler exits with 130 / 143
  const width = Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 110;
  console.log("\n" + renderSummary(report, { color: Deno.stdout.isTerminal() && color, width }));
  if (options.keep) {
    const kept = [...new Set([report.images.builder.ref, report.images.runtime.ref])];
    console.log(`kept (--keep): ${kept.join(", ")}, container ${run.ctx.names.container}`);
  }
  if (options.json) {
    await writeReport(options.json, report);
    console.log(`report: ${options.json}`);
  }
  return exitCode(report.checks);
}

if (import.meta.main) runTask("verify", main);
