/**
 * `deno task dev`: the server under `deno run --watch`, restarted on every change of its code
 * and of `.env`, that stops for good on SIGTERM or SIGINT.
 *
 * - `.env` is read here, the way `docker run --env-file` reads it (tasks/dev/env_file.ts), not
 *   by Deno's `--env-file`, which drops `BACKGROUND_COLOR=#1e90ff` as a comment: one file means
 *   the same under dev and in a container, and each line the runners disagree on is a warning
 *   naming the variable and the fix. The shell's variables win over the file's.
 * - A bad value the watcher cannot see change (one from the shell's environment) ends dev with
 *   exit 1 after the server's error, instead of waiting for a file change that cannot fix it.
 *   A bad value from `.env` waits: saving `.env` restarts the server.
 * - Why a wrapper at all: under `--watch` the program runs inside the watcher's process, and
 *   when it ends (its graceful stop on SIGTERM) the watcher prints "Process finished.
 *   Restarting on file change..." and lives on. So this script forwards the signal, and once
 *   the server has stopped (the watcher says so, or after {@linkcode STOP_GRACE_MS}) signals
 *   the watcher again, which now has no listener and ends. It exits 0 (a requested stop is
 *   not a failure), and its last line says it stopped.
 *
 * @module
 */
import { delay, progress, spawn } from "./_lib/mod.ts";
import { type EnvFile, parseEnvFile, serverEnv } from "./dev/env_file.ts";

/** Files beside the module graph whose change restarts the server. */
const WATCHED = ["config/", "server/", "routes/", "templates/", "static/"];
/** How long the server gets to stop before the watcher is signalled again. */
export const STOP_GRACE_MS = 1000;
/** How long the watcher gets to end after that before it is killed. */
export const KILL_AFTER_MS = 500;
/** The file dev reads the server's variables from, in the project root. */
const ENV_FILE = ".env";
/** An editor's save is several file events: read `.env` once they have settled. */
const ENV_SETTLE_MS = 150;

/** The watcher's command line (after `deno`); the variables of `.env` come in its environment. */
export function devArgs(): string[] {
  return [
    "run",
    `--watch=${WATCHED.join(",")}`,
    "--allow-net",
    "--allow-read=.",
    "--allow-env",
    "main.ts",
  ];
}

/** The server's own start-up error lines, as main.ts prints them. */
const START_ERROR = /^Cannot start server: (?:([A-Z][A-Z0-9_]*) )?/;

/**
 * What to do after the server's first run failed with `problems` (its "Cannot start server"
 * lines): `wait` when every problem names a variable `.env` sets (saving `.env` restarts the
 * server), else `exit` with the names that come from elsewhere (the shell's environment, or
 * none: the server could not listen).
 *
 * @example
 * ```ts
 * afterFailedStart(["Cannot start server: PORT must be ..."], new Set(["PORT"])); // { action: "wait" }
 * afterFailedStart(["Cannot start server: PORT must be ..."], new Set()); // { action: "exit", shell: ["PORT"] }
 * ```
 */
export function afterFailedStart(
  problems: readonly string[],
  fromEnvFile: ReadonlySet<string>,
): { action: "wait" } | { action: "exit"; shell: string[] } {
  const names = problems.map((line) => START_ERROR.exec(line)?.[1]);
  if (names.every((name) => name !== undefined && fromEnvFile.has(name))) return { action: "wait" };
  return { action: "exit", shell: [...new Set(names.filter((n) => n !== undefined))] as string[] };
}

interface LoadedEnv {
  /** The file's text, or undefined when there is none. */
  text: string | undefined;
  file: EnvFile;
  /** What the server gets from the file (the shell's variables left out). */
  env: Record<string, string>;
}

function warn(loaded: LoadedEnv): void {
  for (const warning of loaded.file.warnings) progress("dev", `warning: ${warning}`);
}

async function loadEnv(): Promise<LoadedEnv> {
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(ENV_FILE);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const file = parseEnvFile(text ?? "");
  return { text, file, env: serverEnv(file, (name) => Deno.env.get(name) !== undefined) };
}

/** What the loop below waits for, from signals, `.env` and the watcher of run `run`. */
type Event =
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "env" }
  | { kind: "restarted"; run: number }
  | { kind: "finished"; run: number; problems: string[]; line: string }
  | { kind: "exited"; run: number; code: number };

/** A queue the event sources push to and the loop takes from, in order. */
function eventQueue() {
  const queued: Event[] = [];
  let wake: (() => void) | undefined;
  return {
    push(event: Event) {
      queued.push(event);
      wake?.();
    },
    async next(): Promise<Event> {
      while (queued.length === 0) await new Promise<void>((resolve) => wake = resolve);
      wake = undefined;
      return queued.shift()!;
    },
  };
}

/** Pushes `env` events when `.env` in the project root is created, changed or removed. */
function watchEnvFile(push: (event: Event) => void): void {
  const watcher = Deno.watchFs(".", { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    for await (const { paths } of watcher) {
      if (!paths.some((path) => path.endsWith(`/${ENV_FILE}`))) continue;
      clearTimeout(timer);
      timer = setTimeout(() => push({ kind: "env" }), ENV_SETTLE_MS);
    }
  })();
}

const encoder = new TextEncoder();
const writeErr = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

/** One `deno run --watch` child: its stderr is copied through line by line and watched. */
function startWatcher(run: number, env: Record<string, string>, push: (event: Event) => void) {
  const child = spawn("deno", { args: devArgs(), env, stdin: "inherit", stdout: "inherit" });
  let quiet = false;
  let problems: string[] = [];
  const finishedWaiters = new Set<() => void>();
  const copying = (async () => {
    let pending = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + text).split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        // deno colours the watcher's lines: match on the text without the escapes
        // deno-lint-ignore no-control-regex
        const plain = line.replace(/\x1b\[[0-9;]*m/g, "");
        if (/Process (finished|failed)/.test(plain)) {
          for (const resolve of finishedWaiters) resolve();
          // A stop or restart of ours: "Restarting on file change..." would be a false promise.
          if (!quiet) push({ kind: "finished", run, problems, line });
          problems = [];
          continue;
        }
        if (/Restarting! File change detected/.test(plain)) push({ kind: "restarted", run });
        if (START_ERROR.test(plain)) problems.push(plain);
        writeErr(line);
      }
    }
    if (pending) writeErr(pending);
  })();
  const exited = child.status.then(async (status) => {
    await copying;
    push({ kind: "exited", run, code: status.code });
    return status;
  });
  const signalChild = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  return {
    /** Stops the server (forwarding `signal`), then the watcher; resolves once both ended. */
    async stop(signal: Deno.Signal): Promise<void> {
      quiet = true;
      const finished = new Promise<"finished">((resolve) =>
        finishedWaiters.add(() => resolve("finished"))
      );
      const wait = (ms: number) => delay(ms).then(() => "late" as const);
      const gone = exited.then(() => "exited" as const);
      signalChild(signal);
      if (await Promise.race([gone, finished, wait(STOP_GRACE_MS)]) !== "exited") {
        signalChild("SIGTERM");
        if (await Promise.race([gone, wait(KILL_AFTER_MS)]) === "late") signalChild("SIGKILL");
      }
      await exited;
    },
  };
}

async function main(): Promise<number> {
  const events = eventQueue();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => events.push({ kind: "signal", signal }));
  }
  watchEnvFile(events.push);
  let loaded = await loadEnv();
  warn(loaded);
  for (let run = 1;; run++) {
    const watcher = startWatcher(run, loaded.env, events.push);
    // Until the watcher restarts on a file change, a failed start comes from the environment.
    let firstRun = true;
    let restart = false;
    while (!restart) {
      const event = await events.next();
      if ("run" in event && event.run !== run) continue; // from a watcher already stopped
      switch (event.kind) {
        case "signal":
          await watcher.stop(event.signal);
          progress("dev", `stopped (${event.signal})`);
          return 0;
        case "exited":
          progress("dev", `the watcher ended by itself (exit ${event.code})`);
          return event.code === 0 ? 1 : event.code;
        case "restarted":
          firstRun = false;
          break;
        case "finished": {
          const decision = firstRun && event.problems.length > 0
            ? afterFailedStart(event.problems, new Set(Object.keys(loaded.env)))
            : { action: "wait" as const };
          if (decision.action === "exit") {
            await watcher.stop("SIGTERM");
            progress(
              "dev",
              decision.shell.length
                ? `Cannot start the server: ${decision.shell.join(", ")} comes from the shell's ` +
                  `environment, which no file change fixes: correct it and run deno task dev again`
                : "Cannot start the server (see above), and no file change fixes that: run " +
                  "deno task dev again once it can",
            );
            return 1;
          }
          writeErr(event.line);
          if (firstRun && event.problems.length > 0) {
            const named = (v: { name: string }) =>
              event.problems.some((p) => p.startsWith(`Cannot start server: ${v.name} `));
            const lines = loaded.file.variables.filter(named).map((v) => v.line);
            progress("dev", `correct ${ENV_FILE} (line ${lines.join(", ")}) and save it`);
          }
          break;
        }
        case "env": {
          const next = await loadEnv();
          if (next.text === loaded.text) break;
          progress("dev", `${ENV_FILE} changed: restarting the server`);
          loaded = next;
          warn(loaded);
          await watcher.stop("SIGTERM");
          restart = true;
          break;
        }
      }
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
