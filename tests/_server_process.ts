/**
 * Runs main.ts as users do, with the `start` task's own permission flags, so the tests also
 * prove those flags are enough; and asks a server for `/health` as a new client does.
 *
 * @module
 */
import { ROOT, runDeno, type RunResult, spawn, startTask } from "../tasks/_lib/mod.ts";

/** The arguments `deno task start` passes to `deno` (everything after the program name). */
export function startTaskArgs(): string[] {
  return startTask().args;
}

/** A server process started by {@linkcode spawnServer}. */
export interface ServerProcess {
  /** The server process. */
  child: Deno.ChildProcess;
  /** The startup log line. */
  startup: Record<string, unknown>;
  /** The base URL of the server. */
  url: string;
  /** Every stdout line read so far, including later ones once {@linkcode stop} resolved. */
  lines: string[];
  /** Send `signal` and wait for the exit; resolves to the exit status and stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
  /** Wait for the exit without sending anything. */
  exited(): Promise<{ code: number; stderr: string }>;
}

/** Options of {@linkcode spawnServer}. */
export interface ServerOptions {
  /** Start the server under `ulimit -n` of this many open files (through `sh`). */
  nofile?: number;
  /** Arguments of `deno` in place of the start task's. */
  denoArgs?: string[];
}

/** Start main.ts on a free port with JSON logs; resolves once it logged that it listens. */
export async function spawnServer(
  env: Record<string, string> = {},
  options: ServerOptions = {},
): Promise<ServerProcess> {
  const args = options.denoArgs ?? startTaskArgs();
  const [program, programArgs] = options.nofile === undefined
    ? [Deno.execPath(), args]
    : ["sh", ["-c", `ulimit -n ${options.nofile} && exec "$@"`, "sh", Deno.execPath(), ...args]];
  const child = spawn(program, {
    args: programArgs,
    cwd: ROOT,
    env: { PORT: "0", LOG_FORMAT: "json", NO_COLOR: "1", ...env },
  });
  const lines: string[] = [];
  const stderrText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  async function readLine(): Promise<string | null> {
    while (!pending.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      pending += value;
    }
    const index = pending.indexOf("\n");
    const line = pending.slice(0, index);
    pending = pending.slice(index + 1);
    lines.push(line);
    return line;
  }
  let startup: Record<string, unknown> | undefined;
  while (!startup) {
    const line = await readLine();
    if (line === null) {
      const status = await child.status;
      throw new Error(`Server exited with ${status.code} before listening: ${await stderrText}`);
    }
    const parsed = JSON.parse(line);
    if (parsed.msg === "listening") startup = parsed;
  }
  const drain = (async () => {
    while (await readLine() !== null) { /* keep the pipe flowing */ }
  })();
  async function exited() {
    const status = await child.status;
    await drain;
    return { code: status.code, stderr: await stderrText };
  }
  return {
    child,
    startup,
    url: `http://127.0.0.1:${startup.port}`,
    lines,
    stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return exited();
    },
    exited,
  };
}

/** Run main.ts to completion with the `start` flags; for modes that exit by themselves. */
export function runMain(args: string[], env: Record<string, string>): Promise<RunResult> {
  return runDeno([...startTaskArgs(), ...args], { cwd: ROOT, env });
}

/**
 * One `/health` request on a connection of its own (no pooled connection is reused), as a
 * client that arrives while others hold or flood the server; resolves to the status, 0 when
 * none came within `timeoutMs`.
 */
export async function freshHealth(url: string, timeoutMs: number): Promise<number> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(`${url}/health`, {
      client,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  } finally {
    client.close();
  }
}
