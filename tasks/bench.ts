/**
 * `deno task bench`: loads the SWFT server as users run it, with its production defaults
 * (security headers and JSON access log on), next to two bare `Deno.serve` baselines (a
 * constant answer, and a replay of the server's own response bytes), and reports requests/s,
 * p50/p99 latency, the ratios to both, startup time and memory. Rounds alternate baselines and
 * server so that a noisy machine's drift hits them alike.
 *
 * Run `deno task bench --help` for the options; `--smoke` checks the tool in about 25 s.
 *
 * @module
 */
import {
  CleanupStack,
  delay,
  finishReport,
  freePort,
  progress as taskProgress,
  ROOT,
  runTask,
  startReport,
  writeReport,
} from "./_lib/mod.ts";
import { type BenchOptions, parseBenchArgs, USAGE } from "./bench/cli.ts";
import {
  containerUnavailable,
  launch,
  readProcStatus,
  SEED_INSTALL_HINT,
  seedPython,
  type ServerHandle,
  type TargetName,
  waitHealthy,
} from "./bench/process.ts";
import {
  type BenchReport,
  evaluateGoals,
  type LoadRow,
  type ProcessRow,
  renderReport,
} from "./bench/report.ts";
import { growthPercent, median, pairedRatio } from "./bench/stats.ts";
import { captureResponses } from "./bench/baseline.ts";
import { type ConnectionRow, measureConnections } from "./bench/connections.ts";
import { errorCount, runWrk, WRK_INSTALL_HINT, type WrkResult, wrkVersion } from "./bench/wrk.ts";

/** Servers started by this run, stopped on exit, on error and on SIGINT/SIGTERM. */
const live = new Set<ServerHandle>();

async function stopAll(): Promise<void> {
  await Promise.all([...live].map((server) => server.stop()));
  live.clear();
}

function progress(text: string): void {
  taskProgress("bench", text);
}

async function startServer(
  name: TargetName,
  options: BenchOptions & { replayFile?: string },
  timeoutMs: number,
) {
  const since = performance.now();
  const server = launch(name, {
    port: freePort(),
    image: options.image,
    replayFile: options.replayFile,
    python: seed ?? undefined,
    otlpEndpoint: `http://127.0.0.1:${freePort()}`,
  });
  live.add(server);
  try {
    return { server, ms: await waitHealthy(server, { since, timeoutMs }) };
  } catch (error) {
    await server.stop();
    live.delete(server);
    throw error;
  }
}

/** Startup times in ms: one unmeasured start to warm caches, then `options.starts` measured. */
async function measureStartup(name: TargetName, options: BenchOptions): Promise<number[]> {
  const samples: number[] = [];
  for (let index = 0; index <= options.starts; index++) {
    const { server, ms } = await startServer(name, options, index === 0 ? 60_000 : 10_000);
    await server.stop();
    live.delete(server);
    if (index > 0) samples.push(ms);
  }
  return samples;
}

/** The seed target's python3, once found. */
let seed: string | null | undefined;

async function skipReason(name: TargetName, options: BenchOptions): Promise<string | null> {
  if (name === "binary") {
    try {
      const info = await Deno.stat(`${ROOT}/dist/swft`);
      return info.isFile ? null : "dist/swft is not a file";
    } catch {
      return "dist/swft not found (build it with `deno task build`)";
    }
  }
  if (name === "container") return await containerUnavailable(options.image);
  if (name === "seed") {
    seed ??= await seedPython();
    return seed ? null : `needs ${SEED_INSTALL_HINT}`;
  }
  return null;
}

function describeErrors(result: WrkResult): string {
  const { connect, read, write, status, timeout } = result.errors;
  return `connect ${connect}, read ${read}, write ${write}, timeout ${timeout}, ` +
    `status>=400 ${Math.max(status, result.non2xx3xx)}`;
}

async function rss(server: ServerHandle): Promise<{ name: string; rssBytes: number }> {
  return await readProcStatus(await server.pid());
}

function emptyProcessRow(name: TargetName): ProcessRow {
  return {
    target: name,
    processName: null,
    startupMs: null,
    startupSamplesMs: [],
    rssIdleBytes: null,
    rssAfterLoadBytes: null,
    rssAfterSoakBytes: null,
    rssSoakPeakBytes: null,
    soakSec: 0,
    soakGrowthPct: null,
    accessLog: null,
    requestsAnswered: 0,
  };
}

/** What one run has: its options, its servers and what they measured so far. */
interface Run {
  options: BenchOptions;
  /** Server targets that run (the skipped ones are in `skipped`). */
  targets: TargetName[];
  /** Every process loaded: the baselines, then the targets. */
  names: TargetName[];
  skipped: BenchReport["skipped"];
  servers: Map<TargetName, ServerHandle>;
  processes: Map<TargetName, ProcessRow>;
  /** wrk results by `name path connections`. */
  results: Map<string, WrkResult[]>;
  connections: ConnectionRow[];
  errors: string[];
}

function resultKey(name: string, path: string, connections: number): string {
  return `${name} ${path} ${connections}`;
}

/** The targets that can run here, the others with the reason. */
async function planRun(options: BenchOptions): Promise<Run> {
  const skipped: BenchReport["skipped"] = [];
  const targets: TargetName[] = [];
  for (const name of options.targets) {
    const reason = await skipReason(name, options);
    if (reason) skipped.push({ target: name, reason });
    else targets.push(name);
  }
  // The replay baseline answers with the bytes of the first target, captured at the start:
  // the server's own, so the seed goes last.
  targets.sort((a, b) => Number(a === "seed") - Number(b === "seed"));
  const names: TargetName[] = [
    "baseline",
    ...(targets.length ? ["replay" as const] : []),
    ...targets,
  ];
  return {
    options,
    targets,
    names,
    skipped,
    servers: new Map(),
    processes: new Map(names.map((name) => [name, emptyProcessRow(name)])),
    results: new Map(),
    connections: [],
    errors: [],
  };
}

/** Startup times of every process but the replay (it needs a capture first). */
async function measureStartups(run: Run): Promise<void> {
  for (const name of run.names) {
    if (name === "replay") continue;
    progress(`startup: ${name}, ${run.options.starts} starts after a warm-up start`);
    const samples = await measureStartup(name, run.options);
    const row = run.processes.get(name)!;
    row.startupMs = median(samples);
    row.startupSamplesMs = samples.map((ms) => Math.round(ms * 10) / 10);
  }
}

/** Start the servers that are loaded, the replay with the first target's captured bytes. */
async function startServers(run: Run): Promise<void> {
  const { options, servers } = run;
  let replayFile: string | undefined;
  try {
    for (const name of run.names) {
      if (name === "replay") continue;
      servers.set(name, (await startServer(name, options, 10_000)).server);
    }
    if (run.targets.length) {
      const replay = await captureResponses(servers.get(run.targets[0])!.url, options.paths);
      replayFile = await Deno.makeTempFile({ dir: "/tmp", prefix: "swft-bench-replay-" });
      await Deno.writeTextFile(replayFile, JSON.stringify(replay));
      servers.set(
        "replay",
        (await startServer("replay", { ...options, replayFile }, 10_000)).server,
      );
    }
  } finally {
    // The replay process has read its file once it answers /health.
    if (replayFile) await Deno.remove(replayFile).catch(() => {});
  }
  await delay(1000);
  for (const [name, server] of servers) {
    const status = await rss(server);
    const row = run.processes.get(name)!;
    row.processName = status.name;
    row.rssIdleBytes = status.rssBytes;
  }
}

function record(run: Run, name: TargetName, result: WrkResult, where: string): void {
  run.processes.get(name)!.requestsAnswered += result.requests;
  if (errorCount(result) > 0) {
    run.errors.push(`${name} ${where}: ${errorCount(result)} errors (${describeErrors(result)})`);
  }
}

/** 1 s per path and server at 32 connections, not counted. */
async function warmUp(run: Run): Promise<void> {
  progress("warm-up: 1 s per path and server at 32 connections");
  for (const [name, server] of run.servers) {
    for (const path of run.options.paths) {
      const result = await runWrk(server.url + path, { connections: 32, durationSec: 1 });
      record(run, name, result, path);
    }
  }
}

/** The measured rounds: every path and concurrency, servers alternating; then RSS. */
async function loadRounds(run: Run): Promise<void> {
  const { options, names } = run;
  for (let round = 0; round < options.rounds; round++) {
    for (const path of options.paths) {
      for (const connections of options.connections) {
        // Alternate who goes first, so neither always runs on the warmer or cooler machine.
        const order = round % 2 === 0 ? names : [...names].reverse();
        for (const name of order) {
          const server = run.servers.get(name)!;
          const result = await runWrk(server.url + path, {
            connections,
            durationSec: options.durationSec,
          });
          record(run, name, result, `${path} at ${connections} connections, round ${round + 1}`);
          const key = resultKey(name, path, connections);
          run.results.set(key, [...run.results.get(key) ?? [], result]);
          progress(
            `round ${round + 1}/${options.rounds}  ${path.padEnd(18)} c=${
              String(connections).padEnd(4)
            } ${name.padEnd(9)} ${Math.round(result.requestsPerSec).toString().padStart(7)} req/s` +
              `  p99 ${(result.latencyUs.p99 / 1000).toFixed(2)} ms`,
          );
        }
      }
    }
  }
  for (const [name, server] of run.servers) {
    run.processes.get(name)!.rssAfterLoadBytes = (await rss(server)).rssBytes;
  }
}

/** Mixed load on each target for `options.soakSec`, sampling RSS. */
async function soak(run: Run): Promise<void> {
  const { soakSec, paths } = run.options;
  for (const name of run.targets) {
    const server = run.servers.get(name)!;
    const row = run.processes.get(name)!;
    progress(`soak: ${name}, ${soakSec} s of mixed load at 32 connections`);
    let peak = row.rssAfterLoadBytes ?? 0;
    let soaking = true;
    const sampler = (async () => {
      while (soaking) {
        await delay(Math.min(5000, Math.max(500, soakSec * 100)));
        if (soaking) peak = Math.max(peak, (await rss(server)).rssBytes);
      }
    })();
    try {
      const result = await runWrk(server.url + "/", {
        connections: 32,
        durationSec: soakSec,
        paths,
      });
      record(run, name, result, "soak");
    } finally {
      soaking = false;
      await sampler;
    }
    const after = (await rss(server)).rssBytes;
    row.soakSec = soakSec;
    row.rssAfterSoakBytes = after;
    row.rssSoakPeakBytes = Math.max(peak, after);
    row.soakGrowthPct = growthPercent(row.rssAfterLoadBytes ?? 0, after);
  }
}

/** Idle connections held and closed again, on the bare baseline and each target (not in containers). */
async function connectionStorms(run: Run): Promise<void> {
  const count = run.options.storm;
  for (const name of run.names) {
    if (name === "replay" || name === "container" || name === "seed") continue;
    const server = run.servers.get(name)!;
    progress(`connections: ${name}, ${count} idle keep-alive connections held, then closed`);
    try {
      run.connections.push(
        await measureConnections(name, server.url, {
          count,
          rss: async () => (await rss(server)).rssBytes,
        }),
      );
    } catch (error) {
      run.errors.push(`${name} connections: ${error instanceof Error ? error.message : error}`);
    }
  }
}

/** Servers that died during the run are errors; what each wrote to its access log. */
async function collectLogs(run: Run): Promise<void> {
  // The access log is flushed every 50 ms: give it time to reach the pipe.
  await delay(200);
  for (const [name, server] of run.servers) {
    if (server.exitCode() !== null) {
      run.errors.push(
        `${name} ${server.exitReason()} during the run: ${server.stderr().slice(-500)}`,
      );
    }
    run.processes.get(name)!.accessLog = server.log ? { ...server.log } : null;
  }
}

/** Medians and paired ratios of every path, concurrency and process. */
function loadRows(run: Run): LoadRow[] {
  const { names, results } = run;
  const load: LoadRow[] = [];
  for (const path of run.options.paths) {
    for (const connections of run.options.connections) {
      const rateOf = (name: TargetName) =>
        (results.get(resultKey(name, path, connections)) ?? []).map((one) => one.requestsPerSec);
      for (const name of names) {
        const runs = results.get(resultKey(name, path, connections)) ?? [];
        const rates = runs.map((one) => one.requestsPerSec);
        const isBaseline = name === "baseline" || name === "replay";
        load.push({
          target: name,
          path,
          connections,
          requestsPerSec: median(rates),
          ratio: name === "baseline" ? null : pairedRatio(rates, rateOf("baseline")),
          sameBytesRatio: isBaseline || !names.includes("replay")
            ? null
            : pairedRatio(rates, rateOf("replay")),
          p50Ms: median(runs.map((one) => one.latencyUs.p50 / 1000)),
          p99Ms: median(runs.map((one) => one.latencyUs.p99 / 1000)),
          errors: runs.reduce((sum, one) => sum + errorCount(one), 0),
          roundsRequestsPerSec: rates.map((rate) => Math.round(rate)),
        });
      }
    }
  }
  return load;
}

/** Run the bench; resolves to the report (its `errors` say whether the run failed). */
async function runBench(options: BenchOptions, wrk: string): Promise<BenchReport> {
  const head = startReport("swft-bench");
  const run = await planRun(options);
  await measureStartups(run);
  await startServers(run);
  if (!options.smoke) await warmUp(run);
  await loadRounds(run);
  if (options.soakSec > 0) await soak(run);
  if (options.storm > 0) await connectionStorms(run);
  await collectLogs(run);
  const load = loadRows(run);
  const processes = run.names.map((name) => run.processes.get(name)!);
  const measured = { load, processes, connections: run.connections };
  return finishReport({
    ...head,
    tool: "swft-bench" as const,
    meta: {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      wrk,
      cpus: navigator.hardwareConcurrency,
      smoke: options.smoke,
      durationSec: options.durationSec,
      rounds: options.rounds,
      connections: options.connections,
      paths: options.paths,
      soakSec: options.soakSec,
      storm: options.storm,
    },
    ...measured,
    // The seed is a yardstick (the `seed` goal), not judged against the server's own goals.
    goals: evaluateGoals(measured, run.targets.filter((name) => name !== "seed")),
    skipped: run.skipped,
    errors: run.errors,
  }, run.errors.length === 0);
}

/** Runs the bench with command-line `args`; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseBenchArgs(args);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const wrk = await wrkVersion();
  if (wrk === null) {
    console.error(WRK_INSTALL_HINT);
    return 1;
  }
  // On exit, on error and on Ctrl-C / SIGTERM (the kernel exits 130 / 143 once they stopped)
  await using cleanup = new CleanupStack();
  cleanup.defer(stopAll);
  let result: BenchReport;
  try {
    result = await runBench(options, wrk);
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : error}`);
    return 1;
  } finally {
    await cleanup.disposeAsync(); // the servers stop before the report is printed
  }
  console.log(renderReport(result));
  if (options.json) {
    await writeReport(options.json, result);
    console.log(`\nReport written to ${options.json}`);
  }
  return result.ok ? 0 : 1;
}

if (import.meta.main) runTask("bench", main);
