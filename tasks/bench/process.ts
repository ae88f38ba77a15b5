/**
 * Starting, probing and stopping the processes the bench loads: the bare baseline, the server
 * as `deno task start` runs it, the compiled binary and the runtime-deno container. Servers
 * listen on 127.0.0.1 only.
 *
 * @module
 */
import {
  docker,
  engineVersion,
  fetchText,
  imageId,
  poll,
  ROOT,
  run,
  spawn,
  startTask,
  stopChild,
} from "../_lib/mod.ts";

/** The logger's line counting what it dropped (server/logger.ts), as the JSON format writes it. */
const DROPPED = /"msg":"log lines dropped","dropped":(\d+)/g;

/**
 * Reads a server's stdout to its end into `log`: bytes, lines, and the lines its logger said it
 * dropped (it drops rather than block when its reader falls behind, then writes their count in
 * one line, read here from whole lines only).
 *
 * @example
 * ```ts
 * const log = { bytes: 0, lines: 0, dropped: 0 };
 * await readLog(child.stdout, log);
 * ```
 */
export async function readLog(
  stdout: ReadableStream<Uint8Array>,
  log: { bytes: number; lines: number; dropped: number },
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stdout) {
    log.bytes += chunk.length;
    // Native indexOf, decode and search, not loops in JavaScript: the bench shares the CPUs it
    // measures.
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) log.lines++;
    const text = partial + decoder.decode(chunk, { stream: true });
    const end = text.lastIndexOf("\n") + 1;
    partial = text.slice(end);
    for (const match of text.slice(0, end).matchAll(DROPPED)) log.dropped += Number(match[1]);
  }
}

/**
 * What the bench can load. `baseline` and `replay` are the bare ceilings (tasks/bench/baseline.ts);
 * `metrics`, `otel` and `otel-metrics` are the start task with metrics or OpenTelemetry on.
 */
export type TargetName =
  | "baseline"
  | "replay"
  | "start"
  | "metrics"
  | "otel"
  | "otel-metrics"
  | "quiet"
  | "node"
  | "seed"
  | "binary"
  | "container";

/** The start task's variants: the extra environment each one runs with. */
export const START_VARIANTS: Readonly<Record<string, Record<string, string>>> = {
  start: {},
  metrics: { METRICS: "prometheus" },
  // The access log off: what the log costs.
  quiet: { LOG_LEVEL: "warn" },
  // Deno's built-in OpenTelemetry, exporting OTLP to a port where nothing listens (no collector
  // here): the figures are the instrumentation's and the failing exports' cost.
  otel: { OTEL_DENO: "true", OTEL_DENO_CONSOLE: "ignore" },
  "otel-metrics": { OTEL_DENO: "true", OTEL_DENO_CONSOLE: "ignore", OTEL_DENO_TRACING: "false" },
};

/** A running server. */
export interface ServerHandle {
  /** The target it runs. */
  readonly name: TargetName;
  /** Its base URL on 127.0.0.1. */
  readonly url: string;
  /**
   * Bytes and lines the server wrote to stdout (its access log), and the lines its logger said
   * it dropped because this reader fell behind; `null` when not piped here.
   */
  readonly log: { bytes: number; lines: number; dropped: number } | null;
  /** The id of the process whose memory is reported, once known. */
  pid(): Promise<number>;
  /** Exit code when the process ended, else `null`. */
  exitCode(): number | null;
  /** How the process ended, for error messages: the code, or the signal and who sent it. */
  exitReason(): string;
  /** The end of what the server wrote to stderr. */
  stderr(): string;
  /** Stop the server (SIGTERM, then SIGKILL after 3 s); safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@linkcode launch}. */
export interface LaunchOptions {
  /** The port to listen on, on 127.0.0.1. */
  port: number;
  /** For `replay`: the JSON file of responses captured from the server (baseline.ts). */
  replayFile?: string;
  /** For the OpenTelemetry targets: where OTLP goes (an unused 127.0.0.1 port). */
  otlpEndpoint?: string;
  /** Docker image for the `container` target. */
  image?: string;
  /** For `seed`: the python3 that has FastAPI, uvicorn and Jinja2 ({@linkcode seedPython}). */
  python?: string;
}

/** Where the seed target may find its Python: the first on PATH, then the system's. */
export const SEED_PYTHONS: readonly string[] = ["python3", "/usr/bin/python3"];

/** How to get what the seed target needs. */
export const SEED_INSTALL_HINT: string =
  "python3 with FastAPI, uvicorn and Jinja2 (Debian: apt-get install python3-fastapi " +
  "python3-uvicorn python3-jinja2)";

/** The first of {@linkcode SEED_PYTHONS} that imports FastAPI, uvicorn and Jinja2, or `null`. */
export async function seedPython(): Promise<string | null> {
  for (const python of SEED_PYTHONS) {
    const { code } = await run(python, ["-c", "import fastapi, uvicorn, jinja2"]);
    if (code === 0) return python;
  }
  return null;
}

/** The server's environment in the bench: production defaults, loopback, JSON access log. */
export function serverEnv(port: number): Record<string, string> {
  return {
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_FORMAT: "json",
    LOG_LEVEL: "info",
    NO_COLOR: "1",
  };
}

/** The process name and resident set size in a `/proc/<pid>/status` text. */
export function parseProcStatus(text: string): { name: string; rssBytes: number } {
  const name = text.match(/^Name:\s*(.+)$/m)?.[1]?.trim();
  const rss = text.match(/^VmRSS:\s*(\d+)\s*kB$/m)?.[1];
  if (!name || rss === undefined) throw new Error("No Name or VmRSS in /proc status");
  return { name, rssBytes: Number(rss) * 1024 };
}

/**
 * Name and RSS of process `pid`. Deno asks for --allow-all to read /proc/<pid> files, so this
 * runs `cat` instead, which keeps the task's permissions narrow.
 */
export async function readProcStatus(pid: number): Promise<{ name: string; rssBytes: number }> {
  const { code, stdout, stderr } = await run("cat", [`/proc/${pid}/status`]);
  if (code !== 0) throw new Error(`Cannot read /proc/${pid}/status: ${stderr.trim()}`);
  return parseProcStatus(stdout);
}

function spawnProcess(
  name: TargetName,
  command: string,
  options: { args: string[]; env: Record<string, string> },
  port: number,
): ServerHandle {
  const child = spawn(command, { args: options.args, cwd: ROOT, env: options.env });
  let code: number | null = null;
  let signal: string | null = null;
  let killed = false;
  const status = child.status.then((s) => {
    code = s.code;
    signal = s.signal;
  });
  const log = { bytes: 0, lines: 0, dropped: 0 };
  // Drain stdout as production would: the access log must really be written, and a full pipe
  // would block the server.
  const drained = readLog(child.stdout, log).catch(() => {});
  let stderrTail = "";
  const stderrRead = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderrTail = (stderrTail + decoder.decode(chunk, { stream: true })).slice(-4000);
    }
  })().catch(() => {});
  let stopping: Promise<void> | undefined;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    log,
    pid: () => Promise.resolve(child.pid),
    exitCode: () => code,
    exitReason: () =>
      signal
        ? `was killed by ${signal}${killed ? "" : ", not sent by the bench"}`
        : `exited with code ${code}`,
    stderr: () => stderrTail,
    stop() {
      stopping ??= (async () => {
        if (code === null) {
          killed = true;
          await stopChild(child);
          await status;
        }
        await Promise.all([drained, stderrRead]);
      })();
      return stopping;
    },
  };
}

/** Why the container target cannot run (`null` when it can). */
export async function containerUnavailable(image: string): Promise<string | null> {
  if (!await engineVersion()) return "no Docker engine reachable";
  if (!await imageId(image)) {
    return `image ${image} not found (build it: docker build --target runtime-deno -t ${image} .)`;
  }
  return null;
}

let containerCount = 0;

function runContainer(image: string, port: number): ServerHandle {
  const name = `swft-bench-${Deno.pid}-${++containerCount}`;
  const env = Object.entries(serverEnv(port)).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
  // Host networking with HOST=127.0.0.1: the server listens on loopback only, and the figures
  // measure the server rather than docker-proxy's userland forwarding.
  const started = docker(["run", "-d", "--name", name, "--network", "host", ...env, image]);
  let code: number | null = null;
  let stderrText = "";
  started.then((result) => {
    if (result.code !== 0) {
      code = 125;
      stderrText = result.stderr.trim();
    }
  });
  let stopping: Promise<void> | undefined;
  return {
    name: "container",
    url: `http://127.0.0.1:${port}`,
    log: null,
    async pid() {
      await started;
      const inspected = await docker(["inspect", "--format", "{{.State.Pid}}", name]);
      const pid = Number(inspected.stdout.trim());
      if (inspected.code !== 0 || !(pid > 0)) {
        throw new Error(`Cannot find container ${name}'s process`);
      }
      return pid;
    },
    exitCode: () => code,
    exitReason: () => `could not be started: ${stderrText}`,
    stderr: () => stderrText,
    stop() {
      stopping ??= started.then(async () => {
        await docker(["rm", "-f", name]);
      });
      return stopping;
    },
  };
}

/** Start target `name` on `options.port`; pair with {@linkcode waitHealthy}. */
export function launch(name: TargetName, options: LaunchOptions): ServerHandle {
  const { port } = options;
  switch (name) {
    case "baseline":
      return spawnProcess(name, "deno", {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-env=PORT,SWFT_BENCH_REPLAY",
          "tasks/bench/baseline.ts",
        ],
        env: { PORT: String(port) },
      }, port);
    case "replay":
      if (!options.replayFile) throw new Error("The replay target needs the captured responses");
      return spawnProcess(name, "deno", {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          "--allow-env=PORT,SWFT_BENCH_REPLAY",
          `--allow-read=${options.replayFile}`,
          "tasks/bench/baseline.ts",
        ],
        env: { PORT: String(port), SWFT_BENCH_REPLAY: options.replayFile },
      }, port);
    case "start":
    case "metrics":
    case "otel":
    case "otel-metrics":
    case "quiet": {
      const env = { ...serverEnv(port), ...START_VARIANTS[name] };
      if (name.startsWith("otel")) {
        env.OTEL_EXPORTER_OTLP_ENDPOINT = options.otlpEndpoint ?? "http://127.0.0.1:9";
      }
      return spawnProcess(name, "deno", { args: startTask().args, env }, port);
    }
    case "node":
      return spawnProcess(name, "deno", {
        args: [
          "run",
          "--allow-net=127.0.0.1",
          // what the server reads, as the start task grants it: its templates and its variables
          ...startTask().permissions.filter((flag) => /^--allow-(read|env)=/.test(flag)),
          "tasks/bench/node_server.ts",
        ],
        env: serverEnv(port),
      }, port);
    case "seed":
      if (!options.python) throw new Error("The seed target needs python3 with FastAPI");
      return spawnProcess(name, options.python, {
        args: [
          "-m",
          "uvicorn",
          "main:app",
          "--app-dir",
          "tasks/bench/seed",
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ],
        env: serverEnv(port),
      }, port);
    case "binary":
      return spawnProcess(name, "./dist/swft", { args: [], env: serverEnv(port) }, port);
    case "container":
      if (!options.image) throw new Error("The container target needs an image");
      return runContainer(options.image, port);
  }
}

/**
 * Wait until `GET /health` answers 200; resolves to the milliseconds since `since` (a
 * `performance.now()` taken just before the launch).
 */
export async function waitHealthy(
  server: ServerHandle,
  options: { since: number; timeoutMs: number },
): Promise<number> {
  const ms = await poll(async () => {
    if (server.exitCode() !== null) {
      throw new Error(
        `${server.name} ${server.exitReason()} before answering /health: ` +
          server.stderr().trim().slice(-1000),
      );
    }
    const status = await fetchText(`${server.url}/health`, 1000).then((r) => r.status, () => 0);
    return status === 200 ? performance.now() - options.since : undefined;
  }, { timeoutMs: options.since + options.timeoutMs - performance.now(), intervalMs: 2 });
  if (ms !== undefined) return ms;
  throw new Error(
    `${server.name} did not answer /health within ${options.timeoutMs} ms: ` +
      server.stderr().trim().slice(-1000),
  );
}
