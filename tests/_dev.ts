/**
 * `deno task dev` as a test runs it: in a folder of its own (a copy of the project), with a
 * clean environment (nothing a developer's shell sets, such as PORT, plays a part), its output
 * collected as it comes, and every process it started found and killed after a failure.
 *
 * @module
 */
import { spawn } from "../tasks/_lib/mod.ts";
import { cleanEnv, copyProject } from "./_project.ts";

/** Every descendant of `pid`, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* ended meanwhile */ }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether `pid` is a running process (not gone, not a zombie waiting to be reaped). */
export function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A safety bound on every wait below: a hung dev fails the test instead of hanging it. */
export const WAIT_MS = 30_000;

/** A running `deno task dev`: see {@linkcode startDev}. */
export interface DevRun {
  /** The `deno task dev` process. */
  child: Deno.ChildProcess;
  /** What it wrote so far. */
  text: { stdout: string; stderr: string };
  /** Its exit status; rejects when it still runs after {@linkcode WAIT_MS}. */
  status: Promise<Deno.CommandStatus>;
  /** The first match of `pattern` in `stream` from offset `from` on, once it appears. */
  waitFor(stream: "stdout" | "stderr", pattern: RegExp, from?: number): Promise<RegExpExecArray>;
  /** Kills what is left of the task (after a failure), waits for its output to end, and
   * returns the pids that were still running. */
  cleanup(): Promise<number[]>;
}

/** `deno task dev` running in `cwd`, its output collected as it comes. */
export function startDev(cwd: string, env: Record<string, string>): DevRun {
  const child = spawn(Deno.execPath(), {
    args: ["task", "-q", "dev"],
    cwd,
    clearEnv: true,
    env: cleanEnv(env),
  });
  const text = { stdout: "", stderr: "" };
  const changed = new Set<() => void>();
  const collect = async (name: "stdout" | "stderr") => {
    for await (const chunk of child[name].pipeThrough(new TextDecoderStream())) {
      text[name] += chunk;
      for (const notify of changed) notify();
    }
  };
  let ended = false;
  const reading = Promise.all([collect("stdout"), collect("stderr")]).then(() => {
    ended = true;
    for (const notify of changed) notify();
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = Promise.race([
    child.status,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`dev still running after ${WAIT_MS} ms`)), WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  status.catch(() => {}); // awaited by the tests; a timeout must not be an unhandled rejection
  return {
    child,
    text,
    status,
    waitFor(stream, pattern, from = 0) {
      return new Promise((resolve, reject) => {
        const settle = (error?: string) => {
          changed.delete(check);
          clearTimeout(timeout);
          if (error) reject(new Error(`${error}: no ${pattern} on ${stream}:\n${text.stderr}`));
        };
        const check = () => {
          const match = pattern.exec(text[stream].slice(from));
          if (match) {
            settle();
            resolve(match);
          } else if (ended) settle("dev ended");
        };
        const timeout = setTimeout(() => settle(`${WAIT_MS} ms passed`), WAIT_MS);
        changed.add(check);
        check();
      });
    },
    async cleanup() {
      const left = [child.pid, ...descendants(child.pid)].filter(running);
      for (const pid of left) Deno.kill(pid, "SIGKILL");
      await child.status;
      await reading;
      return left;
    },
  };
}

/** A {@linkcode DevRun} in a copy of its own: `await using` ends it and removes the copy. */
export interface DevInCopy extends DevRun, AsyncDisposable {
  /** The copy of the project it runs in. */
  dir: string;
}

/**
 * `deno task dev` in a fresh copy of the project (so a developer's own `.env` plays no part),
 * with `files` (path to text, such as a `.env`) written into the copy before it starts.
 */
export async function startDevInCopy(
  env: Record<string, string>,
  files: Record<string, string> = {},
): Promise<DevInCopy> {
  const dir = await copyProject("swft-dev-test-");
  for (const [path, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${path}`, text);
  }
  const dev = startDev(dir, env);
  return {
    ...dev,
    dir,
    async [Symbol.asyncDispose]() {
      await dev.cleanup();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The port of the server's (latest) "listening" JSON line on stdout from `from` on. */
export async function listeningPort(dev: DevRun, from = 0): Promise<number> {
  const match = await dev.waitFor("stdout", /^\{.*"msg":"listening".*"port":(\d+).*\}$/m, from);
  return Number(match[1]);
}
