/**
 * `deno task dev`: the server under `deno run --watch`, restarted on every change, that stops
 * for good on SIGTERM or SIGINT.
 *
 * Why a wrapper: under `--watch` the program runs inside the watcher's process, and when it
 * ends (here: its graceful stop on SIGTERM) the watcher only prints "Process finished.
 * Restarting on file change..." and lives on, to listen again after the next edit. So this
 * script forwards the signal, and once the server has stopped (the watcher says so, or after
 * {@linkcode STOP_GRACE_MS}) signals the watcher again, which now has no listener and ends.
 * It exits 0, as a requested stop is not a failure.
 *
 * @module
 */

/** Files beside the module graph whose change restarts the server. */
const WATCHED = ["config.ts", "routes/", "templates/", "static/"];
/** How long the server gets to stop before the watcher is signalled again. */
export const STOP_GRACE_MS = 1000;
/** How long the watcher gets to end after that before it is killed. */
export const KILL_AFTER_MS = 500;

function hasEnvFile(): boolean {
  try {
    return Deno.statSync(".env").isFile;
  } catch {
    return false; // no .env: the defaults, or the variables of the calling environment
  }
}

/** The watcher's command line (after `deno`). */
export function devArgs(hasEnvFile: boolean): string[] {
  return [
    "run",
    `--watch=${WATCHED.join(",")}`,
    ...(hasEnvFile ? ["--env-file=.env"] : []),
    "--allow-net",
    "--allow-read=.",
    "--allow-env",
    "main.ts",
  ];
}

async function main(): Promise<number> {
  const child = new Deno.Command("deno", {
    args: devArgs(hasEnvFile()),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  const finished = Promise.withResolvers<"finished">();
  // Copy the watcher's messages through, watching for the end of the server's run.
  const copying = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      await Deno.stderr.write(chunk);
      if (decoder.decode(chunk, { stream: true }).includes("Process finished")) {
        finished.resolve("finished");
      }
    }
  })();
  let stopping = false;
  async function stop(signal: Deno.Signal) {
    if (stopping) return;
    stopping = true;
    const signalChild = (s: Deno.Signal) => {
      try {
        child.kill(s);
      } catch { /* already gone */ }
    };
    signalChild(signal);
    const exited = child.status.then(() => "exited" as const);
    const wait = (ms: number) => new Promise<"late">((r) => setTimeout(() => r("late"), ms));
    const first = await Promise.race([exited, finished.promise, wait(STOP_GRACE_MS)]);
    if (first === "exited") return;
    signalChild("SIGTERM");
    if (await Promise.race([exited, wait(KILL_AFTER_MS)]) === "late") signalChild("SIGKILL");
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => void stop(signal));
  }
  const status = await child.status;
  await copying;
  return stopping ? 0 : status.code;
}

if (import.meta.main) {
  Deno.exit(await main());
}
