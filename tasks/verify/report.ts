/** Check results, the JSON report (a project contract), the summary table and exit code. */
import {
  formatBytes,
  formatMs,
  pullFailed,
  type ReportHead,
  standinCommand,
  standinHint,
  type StepResult,
  type StepStatus,
} from "../_lib/mod.ts";
import type { VerifyOptions } from "./args.ts";

/** Outcome of a check; a skip is never a pass. */
export type Status = StepStatus;

/** One entry of `checks` in the JSON report: the kernel's step result. */
export type CheckResult = StepResult;

/** Figures about one image. */
export interface ImageFigures {
  /** The tag the run built it under. */
  ref: string;
  /** Image id. */
  id?: string;
  /** Size in bytes. */
  bytes?: number;
  /** Number of layers. */
  layers?: number;
  /** Bytes of files a later layer replaced or deleted. */
  wastedBytes?: number;
}

/** The JSON report written by `--json`. */
export interface Report extends ReportHead {
  /** Always `swft-verify`. */
  tool: "swft-verify";
  /** The options that decide what was verified. */
  options: Pick<
    VerifyOptions,
    "context" | "file" | "target" | "builderTarget" | "image" | "buildArgs" | "config" | "from"
  >;
  /** The engine's versions and builder. */
  engine?: { serverVersion?: string; clientVersion?: string; builder?: string };
  /** One entry per check, in registry order. */
  checks: CheckResult[];
  /** Image figures. */
  images: {
    builder: ImageFigures;
    runtime: ImageFigures;
    reductionPercent?: number;
    sizeBudgetBytes?: number;
  };
  /** Build times and the warm rebuild's cache use. */
  builds: {
    builderMs?: number;
    runtimeMs?: number;
    rebuildMs?: number;
    cachedSteps?: number;
    rebuiltSteps?: number;
    /** The `reproducible` check's epoch and the two builds' manifest digests. */
    reproducible?: { epoch: number; digests: [string, string] };
  };
  /** Figures of the running container. */
  container: {
    port?: number;
    startupMs?: number;
    healthyMs?: number;
    memoryBytes?: number;
    memoryBudgetBytes?: number;
    cpuPercent?: number;
    stopMs?: number;
    exitCode?: number;
  };
  /** Status and time of each probed path. */
  http: Record<string, { status?: number; ms?: number }>;
}

/** 0 when every check passed, else 1: a skipped check means something did not run. */
export function exitCode(checks: CheckResult[]): number {
  return checks.length > 0 && checks.every((c) => c.status === "pass") ? 0 : 1;
}

export { pullFailed };

/**
 * The command docs/verify.md gives for a machine where no registry is reachable: the
 * stand-in bases, then verify of the target that needs no download (`runtime-deno`).
 */
export const STANDIN_COMMAND: string = standinCommand("deno task verify --target runtime-deno");

/**
 * The lines a failed run ends with: the first failure's reason in full (the table clips it),
 * and, when a base image could not be pulled, the stand-in command. Empty when nothing failed.
 *
 * @example
 * ```ts
 * failureNotes([{ id: "build-builder", status: "fail", detail: "build failed: ...", ms: 1 }]);
 * // ["first failure: build-builder: build failed: ..."]
 * ```
 */
export function failureNotes(checks: readonly CheckResult[]): string[] {
  const first = checks.find((c) => c.status === "fail");
  if (!first) return [];
  const notes = [`first failure: ${first.id}: ${first.detail.replace(/\s+/g, " ")}`];
  const pull = checks.find((c) =>
    c.status === "fail" && /^build-/.test(c.id) && pullFailed(c.detail)
  );
  if (pull) {
    notes.push(standinHint(STANDIN_COMMAND, "docs/verify.md"));
  }
  return notes;
}

/** Colour helpers, identity functions when colour is off. */
export interface Paint {
  /** Green. */
  pass(s: string): string;
  /** Red. */
  fail(s: string): string;
  /** Yellow. */
  skip(s: string): string;
  /** Dim. */
  dim(s: string): string;
  /** Bold. */
  bold(s: string): string;
}

/** ANSI colours when `enabled`, plain text otherwise. */
export function paint(enabled: boolean): Paint {
  const wrap = (code: string) => (s: string) => enabled ? `\x1b[${code}m${s}\x1b[0m` : s;
  return { pass: wrap("32"), fail: wrap("31"), skip: wrap("33"), dim: wrap("2"), bold: wrap("1") };
}

/** The status word, padded and coloured. */
export function statusLabel(status: Status, p: Paint): string {
  const word = status.toUpperCase().padEnd(4);
  return status === "pass" ? p.pass(word) : status === "fail" ? p.fail(word) : p.skip(word);
}

function clip(text: string, width: number): string {
  const oneLine = text.replace(/\s+/g, " ");
  return oneLine.length > width ? oneLine.slice(0, width - 1) + "…" : oneLine;
}

/**
 * Renders the final summary: one row per check, then the headline figures and verdict.
 *
 * @example console.log(renderSummary(report, { color: false }))
 */
export function renderSummary(report: Report, options: { color: boolean; width?: number }): string {
  const p = paint(options.color);
  const idWidth = Math.max(...report.checks.map((c) => c.id.length), 5);
  const detailWidth = Math.max((options.width ?? 110) - idWidth - 20, 30);
  const lines = [
    p.bold(`${"CHECK".padEnd(idWidth)}  STATUS  ${"TIME".padStart(8)}  DETAIL`),
  ];
  for (const check of report.checks) {
    lines.push(
      `${check.id.padEnd(idWidth)}  ${statusLabel(check.status, p)}    ${
        formatMs(check.ms).padStart(8)
      }  ${clip(check.detail, detailWidth)}`,
    );
  }
  const figures: string[] = [];
  const { builder, runtime, reductionPercent } = report.images;
  if (builder.bytes !== undefined && runtime.bytes !== undefined) {
    figures.push(
      `images: builder ${formatBytes(builder.bytes)}, runtime ${formatBytes(runtime.bytes)}` +
        (reductionPercent !== undefined ? ` (-${reductionPercent.toFixed(1)}%)` : "") +
        (runtime.layers !== undefined
          ? `, ${runtime.layers} runtime layers, ${formatBytes(runtime.wastedBytes ?? 0)} wasted`
          : ""),
    );
  }
  const b = report.builds;
  if (b.runtimeMs !== undefined) {
    figures.push(
      `builds: builder ${formatMs(b.builderMs ?? 0)}, runtime ${formatMs(b.runtimeMs)}` +
        (b.rebuildMs !== undefined ? `, warm rebuild ${formatMs(b.rebuildMs)}` : ""),
    );
  }
  const c = report.container;
  if (c.startupMs !== undefined) {
    figures.push(
      `container: first 200 after ${formatMs(c.startupMs)}` +
        (c.memoryBytes !== undefined ? `, memory ${formatBytes(c.memoryBytes)}` : "") +
        (c.cpuPercent !== undefined ? `, CPU ${c.cpuPercent.toFixed(2)}%` : "") +
        (c.stopMs !== undefined ? `, stop ${formatMs(c.stopMs)} (exit ${c.exitCode})` : ""),
    );
  }
  const counts = { pass: 0, fail: 0, skip: 0 };
  for (const check of report.checks) counts[check.status]++;
  const verdict = report.ok ? p.pass("VERIFIED") : p.fail("NOT VERIFIED");
  lines.push("", ...figures.map((f) => p.dim(f)));
  lines.push(...failureNotes(report.checks).map((note, i) => i === 0 ? p.fail(note) : note));
  lines.push(
    `${verdict}: ${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped` +
      (report.totalMs !== undefined ? ` in ${formatMs(report.totalMs)}` : ""),
  );
  return lines.join("\n");
}
