/**
 * The bench's report: its JSON shape, the performance targets it is judged against and the
 * aligned tables it prints.
 *
 * @module
 */
import type { ReportHead } from "../_lib/mod.ts";
import type { ConnectionRow } from "./connections.ts";
import { pairedRatio } from "./stats.ts";

export type { ConnectionRow };

/** Load figures of one target on one path at one concurrency, over all rounds. */
export interface LoadRow {
  /** The server target (or baseline). */
  target: string;
  /** The path loaded. */
  path: string;
  /** wrk's concurrency. */
  connections: number;
  /** Median over rounds. */
  requestsPerSec: number;
  /** Median of the per-round ratios to the baseline's round next to it; `null` for the baseline. */
  ratio: number | null;
  /**
   * The same against the replay baseline, which sends this path's exact response bytes: the
   * server's own overhead. `null` for the baselines and when no replay ran.
   */
  sameBytesRatio: number | null;
  /** Median over rounds. */
  p50Ms: number;
  /** Median over rounds. */
  p99Ms: number;
  /** Socket errors, timeouts and responses with status >= 400, summed over rounds. */
  errors: number;
  /** Requests/s of each round, in order. */
  roundsRequestsPerSec: number[];
}

/** Start-up and memory figures of one target. */
export interface ProcessRow {
  /** The server target (or baseline). */
  target: string;
  /** Name of the measured process in /proc, to show it is the server and not a wrapper. */
  processName: string | null;
  /** Median of the samples: from exec to the first 200 on /health. */
  startupMs: number | null;
  /** Each start's time, in order. */
  startupSamplesMs: number[];
  /** Resident memory once started, before any load. */
  rssIdleBytes: number | null;
  /** Resident memory after the load rounds. */
  rssAfterLoadBytes: number | null;
  /** Resident memory after the soak. */
  rssAfterSoakBytes: number | null;
  /** Peak RSS seen while soaking. */
  rssSoakPeakBytes: number | null;
  /** Seconds of soak load. */
  soakSec: number;
  /** RSS growth from after load to after the soak, in percent. */
  soakGrowthPct: number | null;
  /** What the server wrote to stdout (its access log) during the run, when piped to the bench. */
  accessLog: { bytes: number; lines: number; dropped: number } | null;
  /** Responses wrk counted from this target. */
  requestsAnswered: number;
}

/** One performance target for one server target. */
export interface GoalCheck {
  /** The server target judged. */
  target: string;
  /** The goal's id. */
  id: string;
  /** The goal for people. */
  label: string;
  /** What was measured, in `unit`; `null` when not measured. */
  value: number | null;
  /** How `value` must compare to `limit`. */
  comparator: ">=" | "<=";
  /** The bound. */
  limit: number;
  /** Unit of `value` and `limit`. */
  unit: string;
  /** `null` when not measured in this run. */
  met: boolean | null;
  /** How it was measured. */
  detail: string;
}

/** Everything one run measured; written by `--json`. */
export interface BenchReport extends ReportHead {
  /** Always `swft-bench`. */
  tool: "swft-bench";
  /** When, with what and how the run was made. */
  meta: {
    date: string;
    deno: string;
    wrk: string;
    cpus: number;
    smoke: boolean;
    durationSec: number;
    rounds: number;
    connections: number[];
    paths: string[];
    soakSec: number;
    /** Idle connections held per server for {@linkcode BenchReport.connections}; 0: none. */
    storm?: number;
  };
  /** Load figures, a row per target, path and concurrency. */
  load: LoadRow[];
  /** Start-up and memory, a row per target. */
  processes: ProcessRow[];
  /** What idle connections cost each server, the bare baseline first (`--storm`). */
  connections?: ConnectionRow[];
  /** Each goal judged for each target. */
  goals: GoalCheck[];
  /** Targets not run, and why. */
  skipped: { target: string; reason: string }[];
  /** Problems that make the run fail: servers that would not start, wrk errors. */
  errors: string[];
}

/** Concurrency at which the load targets are judged. */
export const GOAL_CONNECTIONS = 32;
const MIB = 1024 * 1024;

/** What the goals are judged on. */
export type Measured = Pick<BenchReport, "load" | "processes"> & { connections?: ConnectionRow[] };

/** A performance target: what {@linkcode GoalCheck} judges, and how to measure it. */
export interface GoalSpec {
  /** Its id. */
  id: string;
  /** The goal for people. */
  label: string;
  /** How the measured value must compare to `limit`. */
  comparator: ">=" | "<=";
  /** The bound. */
  limit: number;
  /** Unit of the value and `limit`. */
  unit: string;
  /** Reads the value for `target` from a report's figures. */
  measure(target: string, report: Measured): {
    value: number | null;
    detail: string;
  };
}

function loadAt(
  load: readonly LoadRow[],
  options: { target: string; path: string },
): LoadRow | undefined {
  const rows = load.filter((row) => row.target === options.target && row.path === options.path);
  // The row at GOAL_CONNECTIONS, else the nearest concurrency measured.
  return rows.sort((a, b) =>
    Math.abs(a.connections - GOAL_CONNECTIONS) - Math.abs(b.connections - GOAL_CONNECTIONS)
  )[0];
}

function loadGoal(
  path: string,
  field: "ratio" | "sameBytesRatio" | "p99Ms",
): GoalSpec["measure"] {
  return (target, report) => {
    const row = loadAt(report.load, { target, path });
    return row
      ? { value: row[field], detail: `${row.connections} connections` }
      : { value: null, detail: `${path} not loaded` };
  };
}

function processGoal(
  field: "startupMs" | "rssAfterLoadBytes" | "soakGrowthPct",
  scale = 1,
): GoalSpec["measure"] {
  return (target, report) => {
    const row = report.processes.find((process) => process.target === target);
    const value = row?.[field];
    const detail = field === "startupMs"
      ? `median of ${row?.startupSamplesMs.length ?? 0} starts`
      : field === "soakGrowthPct"
      ? (row?.soakSec ? `${row.soakSec} s soak` : "no soak")
      : "";
    return { value: value === null || value === undefined ? null : value / scale, detail };
  };
}

/** The targets for the production defaults (security headers and access log on). */
export const GOALS: readonly GoalSpec[] = [
  {
    id: "health-ratio",
    label: "/health req/s / baseline",
    comparator: ">=",
    limit: 0.85,
    unit: "",
    measure: loadGoal("/health", "ratio"),
  },
  {
    id: "root-ratio",
    label: "/ req/s / baseline",
    comparator: ">=",
    limit: 0.65,
    unit: "",
    measure: loadGoal("/", "ratio"),
  },
  {
    id: "root-p99",
    label: "/ p99 latency",
    comparator: "<=",
    limit: 2,
    unit: "ms",
    measure: loadGoal("/", "p99Ms"),
  },
  {
    id: "startup",
    label: "startup, exec to first 200",
    comparator: "<=",
    limit: 80,
    unit: "ms",
    measure: processGoal("startupMs"),
  },
  {
    id: "rss-after-load",
    label: "RSS after load",
    comparator: "<=",
    limit: 64,
    unit: "MiB",
    measure: processGoal("rssAfterLoadBytes", MIB),
  },
  {
    // "No growth", with room for the noise of a garbage-collected heap.
    id: "soak-growth",
    label: "RSS growth over the soak",
    comparator: "<=",
    limit: 5,
    unit: "%",
    measure: processGoal("soakGrowthPct"),
  },
];

/** At least this share of the same-bytes baseline's requests/s, on every path loaded. */
export const SAME_BYTES_LIMIT = 0.9;

/** One goal per loaded path: its ratio to the replay of its own bytes. */
export function sameBytesGoals(paths: readonly string[]): GoalSpec[] {
  return paths.map((path) => ({
    id: `same-bytes ${path}`,
    label: `${path} req/s / same bytes`,
    comparator: ">=",
    limit: SAME_BYTES_LIMIT,
    unit: "",
    measure: loadGoal(path, "sameBytesRatio"),
  }));
}

/** At least this many times the seed's requests/s on `/`. */
export const SEED_LIMIT = 10;

/** `/` requests/s of a target over the seed's, paired by round, when the seed ran. */
function seedGoal(): GoalSpec["measure"] {
  return (target, report) => {
    const own = loadAt(report.load, { target, path: "/" });
    const seed = loadAt(report.load, { target: "seed", path: "/" });
    if (!own || !seed) return { value: null, detail: "seed not loaded" };
    return {
      value: pairedRatio(own.roundsRequestsPerSec, seed.roundsRequestsPerSec),
      detail: `${own.connections} connections, seed ${Math.round(seed.requestsPerSec)} req/s`,
    };
  };
}

/** The goal against the seed app, judged when the `seed` target ran. */
export const SEED_GOALS: readonly GoalSpec[] = [{
  id: "root-vs-seed",
  label: "/ req/s / seed's",
  comparator: ">=",
  limit: SEED_LIMIT,
  unit: "",
  measure: seedGoal(),
}];

/** At most this many times the bare baseline's RSS per idle connection. */
export const CONNECTION_RSS_LIMIT = 1.3;

/** A target's connection figure over the bare baseline's, from the same run. */
function connectionGoal(field: "perConnectionBytes" | "afterStormBytes"): GoalSpec["measure"] {
  return (target, report) => {
    const rows = report.connections ?? [];
    const own = rows.find((row) => row.target === target);
    const bare = rows.find((row) => row.target === "baseline");
    if (!own || !bare) return { value: null, detail: "no connections held" };
    const detail = `${own.connections} connections, ${size(own[field])} against ${
      size(bare[field])
    }`;
    return { value: bare[field] > 0 ? own[field] / bare[field] : null, detail };
  };
}

function size(bytes: number): string {
  return Math.abs(bytes) < MIB
    ? `${(bytes / 1024).toFixed(1)} KiB`
    : `${(bytes / MIB).toFixed(1)} MiB`;
}

/** The goals on what connections cost, judged when `--storm` held some. */
export const CONNECTION_GOALS: readonly GoalSpec[] = [
  {
    id: "connection-rss",
    label: "RSS per idle connection / bare",
    comparator: "<=",
    limit: CONNECTION_RSS_LIMIT,
    unit: "",
    measure: connectionGoal("perConnectionBytes"),
  },
  {
    id: "after-storm",
    label: "RSS left after the storm / bare",
    comparator: "<=",
    limit: 1,
    unit: "",
    measure: connectionGoal("afterStormBytes"),
  },
];

/**
 * Judge each non-baseline target against {@linkcode GOALS}; where the replay baseline ran,
 * against {@linkcode sameBytesGoals} for each path loaded; where connections were held,
 * against {@linkcode CONNECTION_GOALS}.
 */
export function evaluateGoals(
  report: Measured,
  targets: readonly string[],
): GoalCheck[] {
  const replayed = report.load.some((row) => row.sameBytesRatio !== null);
  const paths = [...new Set(report.load.map((row) => row.path))];
  const goals = [
    ...GOALS,
    ...(replayed ? sameBytesGoals(paths) : []),
    ...(report.connections?.length ? CONNECTION_GOALS : []),
    ...(report.load.some((row) => row.target === "seed") ? SEED_GOALS : []),
  ];
  return targets.filter((target) => target !== "baseline" && target !== "replay").flatMap((
    target,
  ) =>
    goals.map((goal) => {
      const { value, detail } = goal.measure(target, report);
      const met = value === null || Number.isNaN(value)
        ? null
        : goal.comparator === ">="
        ? value >= goal.limit
        : value <= goal.limit;
      return {
        target,
        id: goal.id,
        label: goal.label,
        value,
        comparator: goal.comparator,
        limit: goal.limit,
        unit: goal.unit,
        met,
        detail,
      };
    })
  );
}

/** Render rows as aligned columns; `right` marks the columns aligned to the right. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly boolean[] = [],
): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) =>
      right[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column])
    ).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function fixed(value: number | null, digits: number): string {
  return value === null || Number.isNaN(value) ? "-" : value.toFixed(digits);
}

function mib(bytes: number | null): string {
  return bytes === null ? "-" : `${(bytes / MIB).toFixed(1)}`;
}

function goalValue(check: GoalCheck): string {
  if (check.value === null) return "-";
  const digits = check.unit === "" ? 2 : check.unit === "%" || check.unit === "MiB" ? 1 : 2;
  return `${check.value.toFixed(digits)}${check.unit ? " " + check.unit : ""}`;
}

const BASELINES = new Set(["baseline", "replay"]);

/**
 * What a smoke run checks, the tool's health: every server target started and was measured,
 * every path answered with no error. The targets are left to a full run.
 *
 * @example
 * ```ts
 * smokeHealth(report)[0]; // "Tool health (smoke): ok: start, baseline started; ..."
 * ```
 */
export function smokeHealth(report: Pick<BenchReport, "load" | "processes" | "errors">): string[] {
  const problems: string[] = [];
  // The baselines are the yardstick, not the tool's subject: only the servers must be measured.
  for (const row of report.processes.filter((r) => !BASELINES.has(r.target))) {
    if (row.startupMs === null) problems.push(`${row.target}: no start-up measured`);
    if (row.rssAfterLoadBytes === null) problems.push(`${row.target}: no RSS read`);
  }
  const answered = report.processes.reduce((sum, row) => sum + row.requestsAnswered, 0);
  const paths = new Set(report.load.map((row) => row.path));
  if (answered === 0) problems.push("no request was answered");
  if (report.errors.length) problems.push(`${report.errors.length} error(s), listed below`);
  const started = report.processes.map((row) => row.target).join(", ") || "none";
  const head = problems.length === 0
    ? `Tool health (smoke): ok: ${started} started and measured; ${paths.size} path(s) ` +
      `answered ${answered} requests with no error`
    : `Tool health (smoke): FAILED: ${problems.join("; ")}`;
  return [
    head,
    "The performance targets are not judged on a smoke run (too short): run `deno task bench`",
  ];
}

/** The human report: load, processes, connections, targets, skipped targets and errors. */
export function renderReport(report: BenchReport): string {
  const { meta } = report;
  const parts = [
    `SWFT bench${meta.smoke ? " (smoke: checks the tool, not the figures)" : ""}: ` +
    `deno ${meta.deno}, wrk ${meta.wrk}, ${meta.cpus} CPUs, ${meta.rounds} round(s) of ` +
    `${meta.durationSec} s per path and concurrency, baseline and servers alternating`,
    ...loadSection(report),
    ...processSection(report),
    ...connectionSection(report),
    // A smoke run is too short to judge any target: it reports whether the tool works.
    ...(meta.smoke ? ["", ...smokeHealth(report)] : goalSection(report)),
    ...notesSection(report),
  ];
  return parts.join("\n");
}

function loadSection(report: BenchReport): string[] {
  return [
    "\nLoad: medians over rounds; ratio = median of per-round requests/s over the constant " +
    "baseline's;\nsame = the same over the replay of this path's exact response bytes",
    renderTable(
      ["path", "conns", "target", "req/s", "ratio", "same", "p50 ms", "p99 ms", "errors"],
      report.load.map((row) => [
        row.path,
        String(row.connections),
        row.target,
        Math.round(row.requestsPerSec).toString(),
        fixed(row.ratio, 2),
        fixed(row.sameBytesRatio ?? null, 2),
        fixed(row.p50Ms, 2),
        fixed(row.p99Ms, 2),
        String(row.errors),
      ]),
      [false, true, false, true, true, true, true, true, true],
    ),
  ];
}

function processSection(report: BenchReport): string[] {
  const heads = ["target", "process", "startup ms", "RSS idle", "RSS load", "RSS soak"];
  return [
    `\nProcesses: startup = exec to first 200 on /health (median); RSS in MiB; soak ${report.meta.soakSec} s`,
    renderTable(
      [...heads, "soak peak", "growth %", "log lines", "answered"],
      report.processes.map((row) => [
        row.target,
        row.processName ?? "-",
        fixed(row.startupMs, 1),
        mib(row.rssIdleBytes),
        mib(row.rssAfterLoadBytes),
        mib(row.rssAfterSoakBytes),
        mib(row.rssSoakPeakBytes),
        fixed(row.soakGrowthPct, 1),
        row.accessLog ? String(row.accessLog.lines) : "-",
        String(row.requestsAnswered),
      ]),
      [false, false, true, true, true, true, true, true, true, true],
    ),
  ];
}

function connectionSection(report: BenchReport): string[] {
  if (!report.connections?.length) return [];
  return [
    `\nConnections: ${report.meta.storm} idle keep-alive connections held, then closed; RSS in MiB`,
    renderTable(
      ["target", "held", "RSS before", "RSS held", "RSS after", "KiB/conn", "left MiB"],
      report.connections.map((row) => [
        row.target,
        String(row.connections),
        mib(row.rssBeforeBytes),
        mib(row.rssHeldBytes),
        mib(row.rssAfterBytes),
        (row.perConnectionBytes / 1024).toFixed(1),
        mib(row.afterStormBytes),
      ]),
      [false, true, true, true, true, true, true],
    ),
  ];
}

function goalSection(report: BenchReport): string[] {
  if (!report.goals.length) return [];
  return [
    "\nTargets (production defaults: security headers and access log on)",
    renderTable(
      ["target", "goal", "value", "limit", "at", "result"],
      report.goals.map((check) => [
        check.target,
        check.label,
        goalValue(check),
        `${check.comparator} ${check.limit}${check.unit ? " " + check.unit : ""}`,
        check.detail,
        check.met === null ? "not measured" : check.met ? "met" : "NOT MET",
      ]),
      [false, false, true, false, false, false],
    ),
  ];
}

function notesSection(report: BenchReport): string[] {
  const notes: string[] = [];
  if (report.processes.some((row) => row.target === "container")) {
    notes.push(
      "container: startup includes `docker run`; the access log goes to Docker's log driver " +
        "(not counted here); host network, 127.0.0.1 only",
    );
  }
  notes.push(...report.skipped.map((skip) => `skipped ${skip.target}: ${skip.reason}`));
  notes.push(...report.errors.map((error) => `error: ${error}`));
  return notes.length ? ["", ...notes] : [];
}
