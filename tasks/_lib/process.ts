/**
 * Running programs: one spawn for every child process the tasks and tests start (registered
 * so a signal handler, or a clean-up stack, stops it), one result shape for programs run to
 * completion, run-or-throw with one error format, and free ports for the servers they start.
 *
 * @module
 */

/** Output and timing of one finished program. `code` 127 means it could not be started. */
export interface RunResult {
  /** Exit code (127: the program could not be started). */
  code: number;
  /** Everything the program wrote to stdout. */
  stdout: string;
  /** Everything the program wrote to stderr. */
  stderr: string;
  /** Wall time in milliseconds. */
  ms: number;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** Working directory (default: the current one). */
  cwd?: string;
  /** Extra environment variables (the parent's environment is inherited). */
  env?: Record<string, string>;
  /** Start from an empty environment, with only `env` (default: inherit the parent's). */
  clearEnv?: boolean;
  /** Called with every output line (stdout and stderr) as it arrives. */
  onLine?: (line: string) => void;
  /** Text written to the program's stdin (default: no stdin). */
  input?: string;
}

const running = new Set<Deno.ChildProcess>();

/** Options of {@linkcode spawn}: `Deno.Command`'s, and a stack that stops the child. */
export interface SpawnOptions extends Omit<Deno.CommandOptions, "signal"> {
  /** When given, disposing it stops the child ({@linkcode stopChild}) if it still runs. */
  cleanup?: AsyncDisposableStack;
}

/**
 * Starts `cmd` (stdin `"null"`, stdout and stderr `"piped"` unless `options` says otherwise)
 * and registers it until it exits, so {@linkcode killRunning} (`runTask`'s signal handler)
 * stops it; with `options.cleanup`, disposing that stack stops it too. The one way tasks and
 * tests start a program.
 *
 * @example
 * ```ts
 * await using cleanup = new CleanupStack();
 * const server = spawn("docker-registry", { args: ["serve", "config.yml"], cleanup });
 * ```
 *
 * @throws {Error} `Cannot run CMD: REASON` when the program cannot be started
 */
export function spawn(cmd: string, options: SpawnOptions = {}): Deno.ChildProcess {
  const { cleanup, ...command } = options;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, { stdin: "null", stdout: "piped", stderr: "piped", ...command })
      .spawn();
  } catch (error) {
    throw new Error(`Cannot run ${cmd}: ${(error as Error).message}`);
  }
  running.add(child);
  child.status.then(() => running.delete(child));
  cleanup?.defer(async () => void await stopChild(child));
  return child;
}

/**
 * Sends SIGTERM to `child` and waits for it to exit; SIGKILL after `graceMs` if it has not.
 *
 * @example
 * ```ts
 * const { code } = await stopChild(spawn("sleep", { args: ["60"] }));
 * ```
 */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs = 3000,
): Promise<Deno.CommandStatus> {
  const killer = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
  };
  if (!running.has(child)) return child.status;
  killer("SIGTERM");
  const timer = setTimeout(() => killer("SIGKILL"), graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `signal` to every child that {@linkcode run} started and that is still running.
 *
 * @example
 * ```ts
 * Deno.addSignalListener("SIGINT", () => killRunning());
 * ```
 */
export function killRunning(signal: Deno.Signal = "SIGTERM"): void {
  for (const child of running) {
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
  }
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  onLine?: (line: string) => void,
): Promise<string> {
  let all = "";
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    all += text;
    if (!onLine) continue;
    pending += text;
    const lines = pending.split(/\r?\n/);
    pending = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (onLine && pending) onLine(pending);
  return all;
}

/**
 * Runs `cmd ...args` to completion and returns its output; never throws for a non-zero exit
 * or a missing program (code 127 with the reason in `stderr`).
 *
 * @example
 * ```ts
 * const { code, stdout } = await run("git", ["rev-parse", "--short", "HEAD"]);
 * ```
 */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = spawn(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      clearEnv: options.clearEnv,
      stdin: options.input === undefined ? "null" : "piped",
    });
  } catch (error) {
    return { code: 127, stdout: "", stderr: (error as Error).message, ms: 0 };
  }
  if (options.input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.input));
    await writer.close();
  }
  const [stdout, stderr, status] = await Promise.all([
    collect(child.stdout, options.onLine),
    collect(child.stderr, options.onLine),
    child.status,
  ]);
  return { code: status.code, stdout, stderr, ms: performance.now() - started };
}

/** A program that exited with a non-zero code (or could not start), with its output. */
export class CommandError extends Error {
  /** Always `"CommandError"`. */
  override name = "CommandError";
  /** What the program printed, its exit code and time. */
  readonly result: RunResult;

  /** An error for `result`, with `message` as its one line. */
  constructor(message: string, result: RunResult) {
    super(message);
    this.result = result;
  }
}

/** `cmd` and its leading sub-commands (up to two words before the first flag): `docker image rm`. */
function commandName(cmd: string, args: string[]): string {
  const words = [];
  for (const arg of args.slice(0, 2)) {
    if (arg.startsWith("-")) break;
    words.push(arg);
  }
  return [cmd, ...words].join(" ");
}

/**
 * Runs `cmd ...args` like {@linkcode run} and returns its trimmed stdout; throws a
 * {@linkcode CommandError} with its last words on one line when it fails: `Cannot run
 * docker image inspect: Error: No such image: x`.
 *
 * @example
 * ```ts
 * const revision = await runOk("git", ["rev-parse", "HEAD"]);
 * ```
 */
export async function runOk(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await run(cmd, args, options);
  if (result.code === 0) return result.stdout.trim();
  // Code 127: run() says why it could not start the program.
  const detail = result.code === 127
    ? result.stderr
    : `Cannot run ${commandName(cmd, args)}: ${
      lastLines(result.stderr || result.stdout, 3) || `exit ${result.code}`
    }`;
  throw new CommandError(detail, result);
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server a task or test starts (the
 * system picks it; pass port 0 to the server itself where it can report what it bound).
 *
 * @example
 * ```ts
 * const url = `http://127.0.0.1:${freePort()}`;
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Runs the current `deno` binary with colours off, as tasks and tests run sub-commands.
 *
 * @example
 * ```ts
 * const { code } = await runDeno(["task", "build"], { cwd: ROOT });
 * ```
 */
export function runDeno(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(Deno.execPath(), args, { ...options, env: { NO_COLOR: "1", ...options.env } });
}

/** True when `cmd ...args` exits 0 (output discarded). */
export async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  return (await run(cmd, args)).code === 0;
}

// The legacy builder's deprecation banner and its "Sending build context" line (the first of
// every build's output, so one of a build failing at its first step's last lines) say nothing
// about a failure.
const NOISE =
  /^(DEPRECATED: The legacy builder|Install the buildx component|https:\/\/docs\.docker\.com\/go\/buildx|Sending build context to Docker daemon)/;

/**
 * The last `n` non-empty lines of some output joined with " | ", for one-line error details.
 *
 * @example
 * ```ts
 * lastLines("a\n\nb\nc\n", 2); // "b | c"
 * ```
 */
export function lastLines(text: string, n: number): string {
  return text.split(/\r?\n/).map((l) => l.trim())
    .filter((l) => l && !NOISE.test(l))
    .slice(-n).join(" | ");
}
