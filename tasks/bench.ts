/**
 * `deno task bench`: loads the SWFT server as users run it, with its production defaults
 * (security headers and JSON access log on), next to two bare `Deno.serve` baselines (a
 * constant answer, and a replay of the server's own response bytes), and reports requests/s,
 * p50/p99 latency, the ratios to both, startup time and memory. Rounds alternate baselines and
 * server so that a noisy machine's drift hits them alike.
 *
 * Run `deno task bench --help` for the options; `--smoke` checks the tool in about 15 s.
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

/** Run the bench; resolves to the report (its `errors` say whether the run failed). */
async function runBench(options: BenchOptions, wrk: string): Promise<BenchReport> {
  const head = startReport("swft-bench");
  const skipped: BenchReport["skipped"] = [];
  const targets: BenchOptions["targets"] = [];
  for (const name of options.targets) {
    const reason = await skipReason(name, options);
    if (reason) skipped.push({ target: name, reason });
    else targets.push(name);
  }
  // The replay baseline answers with the bytes of the first target, captured below.
  const names: TargetName[] = [
    "baseline",
    ...(targets.length ? ["replay" as const] : []),
    ...targets,
  ];
  const errors: string[] = [];
  const processes = new Map<TargetName, ProcessRow>();
  for (const name of names) {
    if (name === "replay") {
      processes.set(name, emptyProcessRow(name));
      continue;
    }
    progress(`startup: ${name}, ${options.starts} starts after a warm-up start`);
    const samples = await measureStartup(name, options);
    processes.set(name, {
      ...emptyProcessRow(name),
      startupMs: median(samples),
      startupSamplesMs: samples.map((ms) => Math.round(ms * 10) / 10),
    });
  }

  const servers = new Map<TargetName, ServerHandle>();
  let replayFile: string | undefined;
  try {
    for (const name of names) {
      if (name === "replay") continue;
      servers.set(name, (await startServer(name, options, 10_000)).server);
    }
    if (targets.length) {
      const replay = await captureResponses(servers.get(targets[0])!.url, options.paths);
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
    const row = processes.get(name)!;
    row.processName = status.name;
    row.rssIdleBytes = status.rssBytes;
  }

  function record(name: TargetName, result: WrkResult, where: string) {
    processes.get(name)!.requestsAnswered += result.requests;
    if (errorCount(result) > 0) {
      errors.push(`${name} ${where}: ${errorCount(result)} errors (${describeErrors(result)})`);
    }
  }

  if (!options.smoke) {
    progress("warm-up: 1 s per path and server at 32 connections");
    for (const [name, server] of servers) {
      for (const path of options.paths) {
        record(name, await runWrk(server.url + path, { connections: 32, durationSec: 1 }), path);
      }
    }
  }

  const results = new Map<string, WrkResult[]>();
  const key = (name: string, path: string, connections: number) => `${name} ${path} ${connections}`;
  for (let round = 0; round < options.rounds; round++) {
    for (const path of options.paths) {
      for (const connections of options.connections) {
        // Alternate who goes first, so neither always runs on the warmer or cooler machine.
        const order = round % 2 === 0 ? names : [...names].reverse();
        for (const name of order) {
          const server = servers.get(name)!;
          const result = await runWrk(server.url + path, {
            connections,
            durationSec: options.durationSec,
          });
          record(name, result, `${path} at ${connections} connections, round ${round + 1}`);
          const list = results.get(key(name, path, connections)) ?? [];
          list.push(result);
          results.set(key(name, path, connections), list);
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

  for (const [name, server] of servers) {
    processes.get(name)!.rssAfterLoadBytes = (await rss(server)).rssBytes;
  }

  if (options.soakSec > 0) {
    for (const name of targets) {
      const server = servers.get(name)!;
      const row = processes.get(name)!;
      progress(`soak: ${name}, ${options.soakSec} s of mixed load at 32 connections`);
      let peak = row.rssAfterLoadBytes ?? 0;
      let soaking = true;
      const sampler = (async () => {
        while (soaking) {
          await delay(Math.min(5000, Math.max(500, options.soakSec * 100)));
          if (soaking) peak = Math.max(peak, (await rss(server)).rssBytes);
        }
      })();
      try {
        const result = await runWrk(server.url + "/", {
          connections: 32,
          durationSec: options.soakSec,
          paths: options.paths,
        });
        record(name, result, "soak");
      } finally {
        soaking = false;
        await sampler;
      }
      const after = (await rss(server)).rssBytes;
      row.soakSec = options.soakSec;
      row.rssAfterSoakBytes = after;
      row.rssSoakPeakBytes = Math.max(peak, after);
      row.soakGrowthPct = growthPercent(row.rssAfterLoadBytes ?? 0, after);
    }
  }

  // The access log is flushed every 50 ms: give it time to reach the pipe.
  await delay(200);
  for (const [name, server] of servers) {
    if (server.exitCode() !== null) {
      errors.push(`${name} ${server.exitReason()} during the run: ${server.stderr().slice(-500)}`);
    }
    processes.get(name)!.accessLog = server.log ? { ...server.log } : null;
  }

  const load: LoadRow[] = [];
  for (const path of options.paths) {
    for (const connections of options.connections) {
      const rateOf = (name: TargetName) =>
        (results.get(key(name, path, connections)) ?? []).map((run) => run.requestsPerSec);
      for (const name of names) {
        const runs = results.get(key(name, path, connections)) ?? [];
        const rates = runs.map((run) => run.requestsPerSec);
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
          p50Ms: median(runs.map((run) => run.latencyUs.p50 / 1000)),
          p99Ms: median(runs.map((run) => run.latencyUs.p99 / 1000)),
          errors: runs.reduce((sum, run) => sum + errorCount(run), 0),
          roundsRequestsPerSec: rates.map((rate) => Math.round(rate)),
        });
      }
    }
  }
  const processRows = names.map((name) => processes.get(name)!);
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
    },
    load,
    processes: processRows,
    goals: evaluateGoals({ load, processes: processRows }, targets),
    skipped,
    errors,
  }, errors.length === 0);
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
