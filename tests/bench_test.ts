import assert from "node:assert/strict";
import { ROOT, runDeno, taskCommand } from "../tasks/_lib/mod.ts";
import { parseBenchArgs } from "../tasks/bench/cli.ts";
import { parseProcStatus, readLog } from "../tasks/bench/process.ts";
import {
  type BenchReport,
  evaluateGoals,
  type LoadRow,
  type ProcessRow,
  renderReport,
  renderTable,
  smokeHealth,
} from "../tasks/bench/report.ts";
import { growthPercent, median, pairedRatio, ratio } from "../tasks/bench/stats.ts";
import { errorCount, parseWrkOutput, wrkArgs, wrkVersion } from "../tasks/bench/wrk.ts";
import { requiredTest } from "./_container.ts";

const WRK_OUTPUT = `Running 1s test @ http://127.0.0.1:18999/health
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   406.09us  519.37us   5.77ms   94.12%
    Req/Sec    48.72k     6.88k   58.65k    80.00%
  97048 requests in 1.00s, 10.83MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  96865.60
Transfer/sec:     10.81MB
SWFT_BENCH_JSON {"requests":97048,"durationUs":1001883,"bytes":11354616,"errors":{"connect":0,"read":1,"write":0,"status":12,"timeout":2},"latencyUs":{"min":40,"mean":406.09,"max":5774,"p50":291,"p90":481,"p99":3253}}
`;

Deno.test("median takes the middle value, or the mean of the two middle ones", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const values = [3, 1, 2];
  median(values);
  assert.deepEqual(values, [3, 1, 2], "the input is not reordered");
});

Deno.test("pairedRatio is the median of per-round ratios, robust to a drifting machine", () => {
  // The machine slows down over the rounds; each round's pair still says 0.5.
  assert.equal(pairedRatio([50, 40, 30], [100, 80, 60]), 0.5);
  assert.equal(ratio(1, 0), NaN);
  assert.throws(() => pairedRatio([1, 2], [1]), /Cannot pair 2 rounds with 1 baseline rounds/);
  assert.equal(growthPercent(100, 110), 10);
  assert.ok(Number.isNaN(growthPercent(0, 10)));
});

Deno.test("parseWrkOutput reads report.lua's JSON line and wrk's non-2xx count", () => {
  const result = parseWrkOutput(WRK_OUTPUT);
  assert.equal(result.requests, 97048);
  assert.equal(Math.round(result.requestsPerSec), 96866);
  assert.equal(result.latencyUs.p50, 291);
  assert.equal(result.latencyUs.p99, 3253);
  assert.equal(result.non2xx3xx, 12);
  assert.equal(errorCount(result), 15, "read 1 + timeout 2 + status 12");
  assert.throws(() => parseWrkOutput("Requests/sec: 1\n"), /No SWFT_BENCH_JSON line/);
  assert.throws(
    () => parseWrkOutput('SWFT_BENCH_JSON {"requests":1}\n'),
    /wrk's report lacks "durationUs"/,
  );
});

Deno.test("wrkArgs caps threads at the connections and uses the report script", () => {
  const args = wrkArgs("http://127.0.0.1:8080/", { connections: 1, durationSec: 2 });
  assert.deepEqual(args.slice(0, 3), ["-t1", "-c1", "-d2s"]);
  assert.ok(args.at(-2)!.endsWith("tasks/bench/report.lua"));
  assert.equal(args.at(-1), "http://127.0.0.1:8080/");
  assert.equal(wrkArgs("http://127.0.0.1:1/", { connections: 128, durationSec: 1 })[0], "-t2");
});

Deno.test("parseProcStatus reads the process name and VmRSS in bytes", () => {
  const status = "Name:\tdeno\nUmask:\t0022\nState:\tS (sleeping)\nVmRSS:\t   61234 kB\n";
  assert.deepEqual(parseProcStatus(status), { name: "deno", rssBytes: 61234 * 1024 });
  assert.throws(() => parseProcStatus("Name:\tdeno\n"), /No Name or VmRSS/);
});

Deno.test("parseBenchArgs gives full and smoke defaults and names a bad flag", () => {
  const full = parseBenchArgs([]);
  assert.deepEqual(full.connections, [1, 32, 128]);
  assert.deepEqual(full.targets, ["start", "binary", "container"]);
  assert.equal(full.rounds, 3);
  const smoke = parseBenchArgs(["--smoke"]);
  assert.deepEqual(smoke.connections, [32]);
  assert.deepEqual(smoke.targets, ["start"]);
  assert.equal(smoke.rounds, 1);
  const custom = parseBenchArgs(["--connections", "8,8,64", "--soak", "0", "--json", "r.json"]);
  assert.deepEqual(custom.connections, [8, 64]);
  assert.equal(custom.soakSec, 0);
  assert.deepEqual([full.storm, smoke.storm], [2000, 200]);
  assert.equal(parseBenchArgs(["--storm", "0"]).storm, 0, "0 skips the connection figures");
  assert.throws(
    () => parseBenchArgs(["--storm", "6000"]),
    /--storm must be an integer from 0 to 5000/,
  );
  assert.equal(custom.json, "r.json");
  assert.throws(() => parseBenchArgs(["--rounds", "0"]), /--rounds must be an integer from 1/);
  assert.throws(() => parseBenchArgs(["--duration", "600"]), /--duration must be an integer/);
  assert.throws(() => parseBenchArgs(["--targets", "prod"]), /--targets takes start, binary/);
  assert.deepEqual(
    parseBenchArgs(["--targets", "start,quiet,metrics,otel,otel-metrics"]).targets,
    ["start", "quiet", "metrics", "otel", "otel-metrics"],
    "the start task's variants are opt-in targets",
  );
  assert.deepEqual(parseBenchArgs(["--targets", "start,node,seed"]).targets, [
    "start",
    "node",
    "seed",
  ]);
  assert.ok(full.paths.includes("/theme.css"), "every page asset is loaded by default");
  assert.throws(() => parseBenchArgs(["--bogus"]), /bogus/);
  assert.deepEqual(parseBenchArgs(["--paths", "/health, /"]).paths, ["/health", "/"]);
  assert.throws(() => parseBenchArgs(["--paths", "health"]), /--paths takes absolute URL paths/);
});

function loadRow(fields: Partial<LoadRow>): LoadRow {
  return {
    target: "start",
    path: "/",
    connections: 32,
    requestsPerSec: 1000,
    ratio: 1,
    sameBytesRatio: null,
    p50Ms: 0.5,
    p99Ms: 1,
    errors: 0,
    roundsRequestsPerSec: [1000],
    ...fields,
  };
}

const PROCESS: ProcessRow = {
  target: "start",
  processName: "deno",
  startupMs: 70,
  startupSamplesMs: [70, 71, 69],
  rssIdleBytes: 40 * 2 ** 20,
  rssAfterLoadBytes: 70 * 2 ** 20,
  rssAfterSoakBytes: null,
  rssSoakPeakBytes: null,
  soakSec: 0,
  soakGrowthPct: null,
  accessLog: { bytes: 100, lines: 1, dropped: 0 },
  requestsAnswered: 1,
};

Deno.test("evaluateGoals judges at 32 connections, and says what was not measured", () => {
  const load = [
    loadRow({ path: "/health", connections: 1, ratio: 0.5 }),
    loadRow({ path: "/health", connections: 32, ratio: 0.9 }),
    loadRow({ path: "/health", connections: 128, ratio: 0.5 }),
    loadRow({ path: "/", connections: 128, ratio: 0.6, p99Ms: 1.5 }),
  ];
  const checks = evaluateGoals({ load, processes: [PROCESS] }, ["baseline", "start"]);
  const byId = Object.fromEntries(checks.map((check) => [check.id, check]));
  assert.equal(checks.length, 6, "one check per goal, none for the baseline");
  assert.equal(byId["health-ratio"].met, true);
  assert.equal(byId["health-ratio"].detail, "32 connections");
  assert.equal(byId["root-ratio"].met, false, "0.6 < 0.65, from the nearest concurrency");
  assert.equal(byId["root-ratio"].detail, "128 connections");
  assert.equal(byId["root-p99"].met, true);
  assert.equal(byId["startup"].met, true);
  assert.equal(byId["rss-after-load"].value, 70);
  assert.equal(byId["rss-after-load"].met, false);
  assert.equal(byId["soak-growth"].met, null);
});

Deno.test("evaluateGoals adds a same-bytes goal per path once the replay baseline ran", () => {
  const load = [
    loadRow({ path: "/health", sameBytesRatio: 0.95 }),
    loadRow({ path: "/", sameBytesRatio: 0.85 }),
    loadRow({ target: "replay", path: "/", ratio: 1.2 }),
  ];
  const checks = evaluateGoals({ load, processes: [PROCESS] }, ["replay", "start"]);
  const byId = Object.fromEntries(checks.map((check) => [check.id, check]));
  assert.equal(checks.length, 8, "none for the replay baseline itself");
  assert.equal(byId["same-bytes /health"].met, true);
  assert.equal(byId["same-bytes /"].met, false, "0.85 < 0.90");
  assert.equal(byId["same-bytes /"].label, "/ req/s / same bytes");
});

Deno.test("measureConnections holds idle keep-alive connections, reads RSS around them, closes them", async () => {
  const { measureConnections } = await import("../tasks/bench/connections.ts");
  let open = 0;
  let answered = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    answered++;
    return new Response("ok");
  });
  const readings = [100, 100 + 50 * 2048, 100 + 10];
  let reading = 0;
  try {
    const row = await measureConnections("start", `http://127.0.0.1:${server.addr.port}`, {
      count: 50,
      settleMs: 50,
      rss: () => {
        // While held, the server has answered one request on each connection.
        if (reading === 1) open = answered;
        return Promise.resolve(readings[reading++]);
      },
    });
    assert.equal(open, 50, "each connection was answered once before RSS was read");
    assert.deepEqual(row, {
      target: "start",
      connections: 50,
      rssBeforeBytes: 100,
      rssHeldBytes: 100 + 50 * 2048,
      rssAfterBytes: 110,
      perConnectionBytes: 2048,
      afterStormBytes: 10,
    });
    await assert.rejects(
      measureConnections("x", "http://localhost:1", { count: 1, rss: () => Promise.resolve(0) }),
      /Cannot storm http:\/\/localhost:1: the bench only opens connections to 127\.0\.0\.1/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("connection goals compare a target with the bare baseline of the same run", () => {
  const row = (target: string, perConnectionBytes: number, afterStormBytes: number) => ({
    target,
    connections: 100,
    rssBeforeBytes: 0,
    rssHeldBytes: perConnectionBytes * 100,
    rssAfterBytes: afterStormBytes,
    perConnectionBytes,
    afterStormBytes,
  });
  const goals = evaluateGoals({
    load: [],
    processes: [PROCESS],
    connections: [row("baseline", 16 * 1024, 40 * 2 ** 20), row("start", 28 * 1024, 20 * 2 ** 20)],
  }, ["start"]);
  const perConnection = goals.find((goal) => goal.id === "connection-rss")!;
  assert.equal(perConnection.value, 28 / 16);
  assert.equal(perConnection.met, false);
  assert.match(perConnection.detail, /28\.0 KiB against 16\.0 KiB/);
  const afterStorm = goals.find((goal) => goal.id === "after-storm")!;
  assert.equal(afterStorm.value, 0.5);
  assert.equal(afterStorm.met, true);
  assert.deepEqual(
    evaluateGoals({ load: [], processes: [PROCESS] }, ["start"]).filter((goal) =>
      goal.id === "connection-rss"
    ),
    [],
    "no goal without connections held",
  );
});

Deno.test("the seed goal pairs / of a target with the seed's, round by round; the seed is not judged itself", () => {
  const load = [
    loadRow({ target: "start", roundsRequestsPerSec: [20_000, 10_000, 30_000] }),
    loadRow({ target: "seed", roundsRequestsPerSec: [1_000, 2_000, 2_000], requestsPerSec: 2_000 }),
  ];
  const goals = evaluateGoals({ load, processes: [PROCESS] }, ["start"]);
  const seed = goals.find((goal) => goal.id === "root-vs-seed")!;
  assert.equal(seed.value, 15, "median of 20, 5 and 15");
  // An even count of rounds: the mean of the two middle ratios, as every paired ratio here.
  const twoRounds = [
    loadRow({ target: "start", roundsRequestsPerSec: [20_000, 10_000] }),
    loadRow({ target: "seed", roundsRequestsPerSec: [1_000, 2_000] }),
  ];
  assert.equal(
    evaluateGoals({ load: twoRounds, processes: [PROCESS] }, ["start"])
      .find((goal) => goal.id === "root-vs-seed")!.value,
    pairedRatio([20_000, 10_000], [1_000, 2_000]),
  );
  assert.equal(seed.met, true);
  assert.match(seed.detail, /seed 2000 req\/s/);
  assert.equal(goals.filter((goal) => goal.target === "seed").length, 0);
  const without = evaluateGoals({ load: [load[0]], processes: [PROCESS] }, ["start"]);
  assert.equal(without.find((goal) => goal.id === "root-vs-seed"), undefined);
});

Deno.test("replay baseline answers each captured path with the server's exact status, headers and body", async () => {
  const { captureResponses, replayHandler } = await import("../tasks/bench/baseline.ts");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    return path === "/health"
      ? new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } })
      : new Response(new Uint8Array([0, 255, 1]), { status: 201, headers: { "x-a": "b" } });
  });
  try {
    const replay = await captureResponses(`http://127.0.0.1:${server.addr.port}`, ["/bin"]);
    assert.deepEqual(Object.keys(replay).sort(), ["/bin", "/health"]);
    const handler = replayHandler(JSON.parse(JSON.stringify(replay)));
    const bin = handler(new Request("http://localhost/bin"));
    assert.equal(bin.status, 201);
    assert.equal(bin.headers.get("x-a"), "b");
    assert.equal(bin.headers.get("date"), null, "the runtime adds its own Date");
    assert.deepEqual(new Uint8Array(await bin.arrayBuffer()), new Uint8Array([0, 255, 1]));
    const health = handler(new Request("http://localhost/health"));
    assert.equal(health.headers.get("content-type"), "application/json");
    assert.equal(await health.text(), '{"status":"ok"}');
    assert.equal(handler(new Request("http://localhost/other")).status, 404);
  } finally {
    await server.shutdown();
  }
});

Deno.test("renderTable aligns columns, numbers to the right", () => {
  const table = renderTable(["path", "req/s"], [["/", "5"], ["/health", "12345"]], [false, true]);
  assert.equal(table, "path     req/s\n/            5\n/health  12345");
});

/** A report of `measured` with its goals judged for `start`; `meta` and the rest as `fields` say. */
function benchReport(
  measured: { load: LoadRow[]; processes: ProcessRow[] },
  fields: Omit<Partial<BenchReport>, "meta"> & { meta?: Partial<BenchReport["meta"]> } = {},
): BenchReport {
  const { meta, ...rest } = fields;
  return {
    tool: "swft-bench",
    ok: true,
    startedAt: "2026-01-01T00:00:00.000Z",
    meta: {
      date: "2026-01-01T00:00:00.000Z",
      deno: "2.9.6",
      wrk: "4.1.0",
      cpus: 2,
      smoke: false,
      durationSec: 2,
      rounds: 3,
      connections: [32],
      paths: ["/"],
      soakSec: 0,
      ...meta,
    },
    ...measured,
    goals: evaluateGoals(measured, ["start"]),
    skipped: [],
    errors: [],
    ...rest,
  };
}

Deno.test("renderReport shows load, processes, each target met or NOT MET, skips and errors", () => {
  const load = [loadRow({ target: "baseline", ratio: null }), loadRow({ ratio: 0.5 })];
  const report = benchReport({ load, processes: [PROCESS] }, {
    ok: false,
    skipped: [{ target: "binary", reason: "dist/swft not found" }],
    errors: ["start / at 32 connections, round 1: 3 errors"],
  });
  const text = renderReport(report);
  assert.match(text, /^\/\s+32\s+baseline\s+1000\s+-\s+-\s+0\.50\s+1\.00\s+0$/m);
  assert.match(
    text,
    /^start\s+\/ req\/s \/ baseline\s+0\.50\s+>= 0\.65\s+32 connections\s+NOT MET$/m,
  );
  assert.match(text, /^start\s+startup, exec to first 200\s+70\.00 ms\s+<= 80 ms.*\smet$/m);
  assert.match(text, /RSS growth over the soak\s+-\s+<= 5 %\s+no soak\s+not measured/);
  assert.match(text, /skipped binary: dist\/swft not found/);
  assert.match(text, /error: start \/ at 32 connections, round 1: 3 errors/);
});

/** PROCESS as another target, answering 500 requests. */
function processRow(target: string, startupMs: number | null): ProcessRow {
  return {
    ...PROCESS,
    target,
    startupMs,
    startupSamplesMs: startupMs === null ? [] : [startupMs],
    requestsAnswered: 500,
  };
}

/** A smoke run whose figures miss every target, as a 1 s run on a busy machine does. */
function smokeReport(fields: Omit<Partial<BenchReport>, "meta"> = {}): BenchReport {
  // p99 30 ms is far above the 2 ms target: a full run would say NOT MET.
  const load = [
    loadRow({ target: "baseline", ratio: null, p99Ms: 30 }),
    loadRow({ ratio: 0.3, p99Ms: 30 }),
  ];
  // The replay baseline is never timed at start-up: that is not a fault of the tool.
  const processes = [
    processRow("baseline", 40),
    processRow("replay", null),
    processRow("start", 190),
  ];
  return benchReport({ load, processes }, {
    meta: { smoke: true, durationSec: 1, rounds: 1, soakSec: 2 },
    ...fields,
  });
}

Deno.test("bench --smoke reports the tool's health, not targets it never tried to meet", () => {
  const report = smokeReport();
  assert.ok(report.goals.some((goal) => goal.met === false), "the figures miss the targets");
  const text = renderReport(report);
  assert.doesNotMatch(text, /NOT MET/);
  assert.doesNotMatch(text, /^Targets \(production defaults/m);
  assert.match(
    text,
    /^Tool health \(smoke\): ok: baseline, replay, start started and measured; 1 path\(s\) answered 1500 requests with no error$/m,
  );
  assert.match(text, /not judged on a smoke run.*deno task bench/);
  // The same figures in a full run are judged.
  const full = renderReport({ ...report, meta: { ...report.meta, smoke: false } });
  assert.match(full, /NOT MET/);
  assert.doesNotMatch(full, /Tool health/);
});

Deno.test("bench --smoke health fails on a server not measured, nothing answered, or errors", () => {
  const unmeasured = smokeReport();
  unmeasured.processes = [processRow("baseline", 40), processRow("start", null)];
  assert.equal(
    smokeHealth(unmeasured)[0],
    "Tool health (smoke): FAILED: start: no start-up measured",
  );

  const silent = smokeReport();
  silent.processes = silent.processes.map((row) => ({ ...row, requestsAnswered: 0 }));
  assert.match(smokeHealth(silent)[0], /FAILED: no request was answered$/);

  const errors = smokeReport({ errors: ["start / at 32 connections, round 1: 3 errors"] });
  assert.match(smokeHealth(errors)[0], /FAILED: 1 error\(s\), listed below$/);
  assert.match(renderReport(errors), /^error: start \/ at 32 connections, round 1: 3 errors$/m);
});

function benchTaskArgs(): string[] {
  const words = taskCommand("bench").split(/\s+/);
  assert.equal(words[0], "deno");
  return words.slice(1);
}

Deno.test("bench without wrk says how to install it and exits 1", async () => {
  const bin = await Deno.makeTempDir({ prefix: "swft-bench-nowrk-" });
  try {
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    const { code, stderr } = await runDeno(benchTaskArgs(), { cwd: ROOT, env: { PATH: bin } });
    assert.equal(code, 1, stderr);
    assert.match(stderr, /wrk is not installed\. Install it .*apt-get install -y wrk/);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

const wrk = await wrkVersion();

// CI runs the bench's smoke here only (.ci/run has no step of its own): without wrk it fails there.
requiredTest(
  "bench --smoke: loads every path of the real server and writes its JSON report",
  wrk === null ? "wrk is not installed; apt-get install wrk" : undefined,
  async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "swft-bench-test-" });
    try {
      const json = `${dir}/report.json`;
      const { code, stdout, stderr } = await runDeno(["task", "bench", "--smoke", "--json", json], {
        cwd: ROOT,
      });
      assert.equal(code, 0, `${stdout}\n${stderr}`);
      // A smoke run reports the tool's health; the targets are for a full run.
      assert.match(stdout, /^Tool health \(smoke\): ok: /m);
      assert.doesNotMatch(stdout, /NOT MET/);
      const report: BenchReport = JSON.parse(await Deno.readTextFile(json));
      assert.equal(report.meta.smoke, true);
      assert.deepEqual([report.tool, report.ok], ["swft-bench", true]);
      assert.deepEqual(report.errors, []);
      assert.deepEqual(
        report.load.map((row) => `${row.target} ${row.path}`).sort(),
        ["/", "/health", "/static/style.css", "/theme.css", "/time"]
          .flatMap((path) => [`baseline ${path}`, `replay ${path}`, `start ${path}`]).sort(),
      );
      for (const row of report.load.filter((row) => row.target === "start")) {
        assert.ok(row.sameBytesRatio! > 0, `${row.path} has a ratio to the replay of its bytes`);
      }
      for (const row of report.load) {
        assert.ok(row.requestsPerSec > 0, `${row.target} ${row.path} answered`);
        assert.ok(row.p99Ms >= row.p50Ms && row.p50Ms > 0, `${row.target} ${row.path} latency`);
        assert.equal(row.errors, 0);
      }
      const start = report.processes.find((row) => row.target === "start")!;
      assert.equal(start.processName, "deno", "memory is the server's own deno process");
      assert.ok(start.startupMs! > 0 && start.startupSamplesMs.length === 2);
      assert.ok(start.rssIdleBytes! > 0 && start.rssAfterLoadBytes! > 0);
      assert.ok(start.rssAfterSoakBytes! > 0 && typeof start.soakGrowthPct === "number");
      // The access log is on and really written: a line per answered request, or counted as
      // dropped by the logger when this reader fell behind (it never blocks the server).
      const { lines, dropped } = start.accessLog!;
      assert.ok(lines + dropped >= start.requestsAnswered, JSON.stringify(start));
      assert.deepEqual(report.goals.map((goal) => goal.id), [
        "health-ratio",
        "root-ratio",
        "root-p99",
        "startup",
        "rss-after-load",
        "soak-growth",
        ...report.meta.paths.map((path) => `same-bytes ${path}`),
        "connection-rss",
        "after-storm",
      ]);
      // Idle connections were held on the bare baseline and on the server, figures per connection.
      assert.deepEqual(report.connections!.map((row) => [row.target, row.connections]), [
        ["baseline", 200],
        ["start", 200],
      ]);
      for (const row of report.connections!) {
        assert.ok(row.rssHeldBytes > row.rssBeforeBytes, `${row.target} grew with connections`);
        assert.ok(row.perConnectionBytes > 0);
      }
      assert.ok(report.goals.every((goal) => typeof goal.met === "boolean"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("bench reads the access log's lines and the count of lines the logger dropped, across chunks", async () => {
  const text = '{"msg":"request"}\n{"msg":"request"}\n' +
    '{"time":"t","level":"warn","msg":"log lines dropped","dropped":1234}\n{"msg":"request"}\n' +
    '{"time":"t","level":"warn","msg":"log lines dropped","dropped":5}\n';
  const bytes = new TextEncoder().encode(text);
  // Cut inside the first count's line and inside its number.
  const cuts = [0, 50, text.indexOf("1234") + 2, bytes.length];
  const stream = ReadableStream.from(cuts.slice(1).map((end, i) => bytes.slice(cuts[i], end)));
  const log = { bytes: 0, lines: 0, dropped: 0 };
  await readLog(stream, log);
  assert.deepEqual(log, { bytes: bytes.length, lines: 5, dropped: 1239 });
});
