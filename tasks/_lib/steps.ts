/**
 * One step runner for every task that does things in order and reports each: verify's checks
 * and release's steps. A step is a value (an id, the facts it needs and provides, a run
 * function); the list is the order. {@linkcode runSteps} times each step, turns a thrown error
 * into a failure with its message, and decides the skips of the list itself: a step named by
 * `skip`, a step whose needs are missing (naming the step that should have provided them), or,
 * with `stopAfterFailure`, every step after the first failure (`not run: ID failed`). A step's
 * run may also answer skip when its work does not apply to this run (verify `--from`'s build
 * checks), saying why.
 *
 * @example
 * ```ts
 * const steps: Step<{ out: string[] }>[] = [
 *   { id: "hello", run: (ctx) => Promise.resolve(pass(`said ${ctx.out.push("hi")} thing`)) },
 * ];
 * const results = await runSteps(steps, { out: [] }, { stopAfterFailure: true });
 * results[0].status; // "pass"
 * ```
 *
 * @module
 */
import { progress } from "./cli.ts";
import { formatMs } from "./format.ts";

/** A step's outcome in a report; a skip is never a pass. */
export type StepStatus = "pass" | "fail" | "skip";

/** One step as reported: the shape of verify's `checks` and release's `steps` (a contract). */
export interface StepResult {
  /** The step's id. */
  id: string;
  /** pass, fail or skip. */
  status: StepStatus;
  /** What it did, or why it failed or was skipped, in one line. */
  detail: string;
  /** Wall time in milliseconds (0 for a skip the runner decided). */
  ms: number;
}

/** What a step's run returns. */
export interface Outcome {
  /** pass or fail; skip when the step's work does not apply to this run (never a pass). */
  status: StepStatus;
  /** One line for people. */
  detail: string;
}

/**
 * A passing outcome.
 *
 * @example
 * ```ts
 * pass("pushed"); // { status: "pass", detail: "pushed" }
 * ```
 */
export function pass(detail: string): Outcome {
  return { status: "pass", detail };
}

/**
 * A failing outcome (throwing an `Error` fails the step as well).
 *
 * @example
 * ```ts
 * fail("image too large"); // { status: "fail", detail: "image too large" }
 * ```
 */
export function fail(detail: string): Outcome {
  return { status: "fail", detail };
}

/** One step: an entry of the list {@linkcode runSteps} runs in order. */
export interface Step<C, F extends string = string> {
  /** Its id in the report. */
  id: string;
  /** Facts that must be set, or the step is skipped naming the first missing one. */
  needs?: readonly F[];
  /** Facts its run may set (only used to say who failed to provide a need). */
  provides?: readonly F[];
  /** Does the step; a thrown error is a failure with its message. */
  run(ctx: C): Promise<Outcome>;
}

/** Options of {@linkcode runSteps}. */
export interface RunStepsOptions<F extends string> {
  /** The facts steps set as they pass; a step's `needs` are looked up here as it starts. */
  facts?: { readonly [K in F]?: unknown };
  /** Why a step is skipped before it runs (e.g. `--skip`), or `undefined` to run it. */
  skip?: (id: string) => string | undefined;
  /** After the first failure, report every later step as `skip`: `not run: ID failed`. */
  stopAfterFailure?: boolean;
  /** Called as a step starts running (never for a skipped step). */
  onStart?: (id: string) => void;
  /** Called with each result, skips included, in order. */
  onEnd?: (result: StepResult) => void;
}

/** The message of a thrown value, on one line (a report's detail is one line). */
function errorDetail(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

/**
 * Runs `steps` in order on `ctx` and resolves to their results (also given to `onEnd` one by
 * one). Never throws for a failing step.
 *
 * @example
 * ```ts
 * const results = await runSteps(checks, ctx, {
 *   facts: ctx.facts,
 *   skip: (id) => skipped.includes(id) ? "skipped by --skip" : undefined,
 * });
 * ```
 */
export async function runSteps<C, F extends string = string>(
  steps: readonly Step<C, F>[],
  ctx: C,
  options: RunStepsOptions<F> = {},
): Promise<StepResult[]> {
  const providers = new Map<F, string>();
  for (const step of steps) {
    for (const fact of step.provides ?? []) providers.set(fact, step.id);
  }
  const results: StepResult[] = [];
  let failed: string | undefined;
  for (const step of steps) {
    const missing = step.needs?.find((fact) => options.facts?.[fact] === undefined);
    const skip = failed && options.stopAfterFailure
      ? `not run: ${failed} failed`
      : options.skip?.(step.id) ??
        (missing &&
          `needs ${missing}${
            providers.has(missing) ? ` (${providers.get(missing)} did not pass)` : ""
          }`);
    let result: StepResult;
    if (skip) {
      result = { id: step.id, status: "skip", detail: skip, ms: 0 };
    } else {
      options.onStart?.(step.id);
      const started = performance.now();
      let outcome: Outcome;
      try {
        outcome = await step.run(ctx);
      } catch (error) {
        outcome = fail(errorDetail(error));
      }
      result = { id: step.id, ...outcome, ms: Math.round(performance.now() - started) };
      if (result.status === "fail") failed ??= step.id;
    }
    results.push(result);
    options.onEnd?.(result);
  }
  return results;
}

/**
 * Progress lines on stderr for {@linkcode runSteps}, prefixed with the tool's name:
 * `ID...` as a step starts, `ID: DETAIL (TIME)` when it passes, `ID failed: DETAIL`.
 * Skips print nothing (the report lists them).
 *
 * @example
 * ```ts
 * await runSteps(steps, ctx, { ...stepProgress("release"), stopAfterFailure: true });
 * ```
 */
export function stepProgress(
  tool: string,
): Required<Pick<RunStepsOptions<string>, "onStart" | "onEnd">> {
  return {
    onStart: (id) => progress(tool, `${id}...`),
    onEnd: (result) => {
      if (result.status === "pass") {
        progress(tool, `${result.id}: ${result.detail} (${formatMs(result.ms)})`);
      } else if (result.status === "fail") progress(tool, `${result.id} failed: ${result.detail}`);
    },
  };
}
