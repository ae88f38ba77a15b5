/**
 * `deno task verify [flags]`: build the Dockerfile's builder and runtime stages and prove
 * the runtime image (see `--help`). Exit 0 only when every check passes.
 */
import { HELP, parseVerifyArgs, UsageError } from "./verify/args.ts";
import { killRunning } from "./verify/docker.ts";
import { cleanup, createRun, runVerify } from "./verify/mod.ts";
import { CHECK_IDS, exitCode, renderSummary } from "./verify/report.ts";

const encoder = new TextEncoder();
const write = (text: string) => Deno.stdout.writeSync(encoder.encode(text));

if (import.meta.main) {
  let options;
  try {
    options = parseVerifyArgs(Deno.args);
    if (options !== "help") {
      const unknown = options.skip.filter((id) => !(CHECK_IDS as readonly string[]).includes(id));
      if (unknown.length > 0) throw new UsageError(`--skip: unknown check ${unknown.join(", ")}`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`verify: ${error.message}\nRun with --help for usage.`);
    Deno.exit(2);
  }
  if (options === "help") {
    write(HELP);
    Deno.exit(0);
  }
  const tty = Deno.stdout.isTerminal();
  const color = tty && !Deno.env.get("NO_COLOR");
  const run = createRun(options, { write, tty, color });

  // Ctrl-C / SIGTERM: stop docker children, remove what was created, exit 130 / 143
  // Killing the docker children makes the run itself fail fast: it must then wait for the
  // clean-up to exit with the signal's code, not report and exit 1 first.
  let stopping: Promise<void> | undefined;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      stopping ??= (async () => {
        write(`\nverify: ${signal}, cleaning up\n`);
        killRunning();
        await cleanup(run.resources, options.keep);
        Deno.exit(code);
      })();
    });
  }

  const report = await runVerify(run);
  if (stopping) await stopping;
  write(
    "\n" + renderSummary(report, { color, width: tty ? Deno.consoleSize().columns : 110 }) + "\n",
  );
  if (options.json) {
    await Deno.writeTextFile(options.json, JSON.stringify(report, null, 2) + "\n");
    write(`report: ${options.json}\n`);
  }
  Deno.exit(exitCode(report.checks));
}
