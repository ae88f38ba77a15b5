/**
 * `deno task bench --smoke` reports the tool's health (every server started and was measured,
 * every path answered, no error), not performance targets it is too short to meet.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type BenchReport,
  evaluateGoals,
  type LoadRow,
  type ProcessRow,
  renderReport,
  smokeHealth,
} from "../tasks/bench/report.ts";

function loadRow(target: string, path: string, ratio: number | null): LoadRow {
  return {
    target,
    path,
    connections: 32,
    requestsPerSec: 1000,
    ratio,
    sameBytesRatio: null,
    p50Ms: 2,
    p99Ms: 30, // far above the 2 ms target: a full run would say NOT MET
    errors: 0,
    roundsRequestsPerSec: [1000],
  };
}

function processRow(target: string, startupMs: number | null): ProcessRow {
  return {
    target,
    processName: "deno",
    startupMs,
    startupSamplesMs: startupMs === null ? [] : [startupMs],
    rssIdleBytes: 40 * 2 ** 20,
    rssAfterLoadBytes: 70 * 2 ** 20,
    rssAfterSoakBytes: null,
    rssSoakPeakBytes: null,
    soakSec: 2,
    soakGrowthPct: null,
    accessLog: null,
    requestsAnswered: 500,
  };
}

/** A smoke run whose figures miss every target, as a 1 s run on a busy machine does. */
function smokeReport(fields: Partial<BenchReport> = {}): BenchReport {
  const load = [loadRow("baseline", "/", null), loadRow("start", "/", 0.3)];
  // The replay baseline is never timed at start-up: that is not a fault of the tool.
  const processes = [
    processRow("baseline", 40),
    processRow("replay", null),
    processRow("start", 190),
  ];
  return {
    tool: "swft-bench",
    ok: true,
    startedAt: "2026-01-01T00:00:00.000Z",
    meta: {
      date: "2026-01-01T00:00:00.000Z",
      deno: "2.9.6",
      wrk: "4.1.0",
      cpus: 2,
      smoke: true,
      durationSec: 1,
      rounds: 1,
      connections: [32],
      paths: ["/"],
      soakSec: 2,
    },
    load,
    processes,
    goals: evaluateGoals({ load, processes }, ["start"]),
    skipped: [],
    errors: [],
    ...fields,
  };
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
