/**
 * Checks as data: a check is a value with an id, the facts it needs, the facts it provides
 * and a run function. The registry array is the order and the id list; a check whose needs
 * are missing is skipped with the reason, by {@linkcode runChecks}, never by the check.
 *
 * @module
 */
import type { ContainerInfo, ImageInfo } from "../_lib/mod.ts";
import type { VerifyOptions } from "./args.ts";
import type { VerifyConfig } from "./config.ts";
import type { Dockerfile } from "./dockerfile.ts";
import type { DockerIgnore } from "./dockerignore.ts";
import type { ImageFs } from "./image_fs.ts";
import type { Progress } from "./progress.ts";
import type { Report, Status } from "./report.ts";

/** What passing checks established, for the checks after them. */
export interface Facts {
  /** engine: an engine answers; which builder `docker build` uses. */
  engine?: { buildKit: boolean };
  /** dockerfile-lint: the parsed Dockerfile and .dockerignore (also when lint fails). */
  dockerfile?: { dockerfile: Dockerfile; dockerignore?: DockerIgnore };
  /** build-builder: the builder image's tag. */
  builderImage?: string;
  /** build-runtime: the runtime image's tag. */
  runtimeImage?: string;
  /** healthcheck-defined: the image's HEALTHCHECK command. */
  healthcheck?: string;
  /** container-start: the running container and its base URL. */
  container?: { name: string; baseUrl: string };
}

/** A fact's name. */
export type Fact = keyof Facts;

/** What a check's run returns. */
export interface Outcome {
  /** pass or fail (a skip is decided by the runner). */
  status: Exclude<Status, "skip">;
  /** One line for people. */
  detail: string;
}

/** A passing outcome. */
export function pass(detail: string): Outcome {
  return { status: "pass", detail };
}

/** A failing outcome. */
export function fail(detail: string): Outcome {
  return { status: "fail", detail };
}

/** Turns a rule's verdict into an outcome. */
export function verdict(v: { ok: boolean; detail: string }): Outcome {
  return v.ok ? pass(v.detail) : fail(v.detail);
}

/** Everything verify created, so it can be removed on success, failure and Ctrl-C. */
export interface Resources {
  /** Container names. */
  containers: Set<string>;
  /** Image tags this run created (never a tag that existed before). */
  images: Set<string>;
  /** Temporary folders. */
  dirs: Set<string>;
}

/** What a check's run function gets. */
export interface Context {
  /** The command line, defaults applied. */
  options: VerifyOptions;
  /** The app's expectations. */
  config: VerifyConfig;
  /** The report under construction (checks add their figures). */
  report: Report;
  /** Facts established so far. */
  facts: Facts;
  /** Where build output and check lines go. */
  progress: Progress;
  /** What the run created. */
  resources: Resources;
  /** Tags and names unique to this run. */
  names: { builder: string; runtime: string; rebuild: string; container: string };
  /** Creates a temp dir that the clean-up removes. */
  tempDir(prefix: string): Promise<string>;
  /** `docker image inspect` of the runtime image (once per run). */
  runtimeInfo(): Promise<ImageInfo>;
  /** The runtime image's layers, read once per run. */
  layers(): Promise<ImageFs>;
  /** `docker container inspect` of the running container. */
  containerInfo(): Promise<ContainerInfo>;
}

/** A check: one entry of the registry. */
export interface Check {
  /** Its id in the report (a contract). */
  id: string;
  /** Facts that must exist, or the check is skipped naming the first missing one. */
  needs: Fact[];
  /** Facts its run may set on `ctx.facts`. */
  provides?: Fact[];
  /** Runs the check; a thrown error is a failure with its message. */
  run(ctx: Context): Promise<Outcome>;
}

/**
 * Runs the checks in registry order. A check listed in `--skip`, or whose needs are missing,
 * is a skip naming why; everything else is timed and recorded.
 */
export async function runChecks(checks: readonly Check[], ctx: Context): Promise<void> {
  const providers = new Map<Fact, string>();
  for (const check of checks) {
    for (const fact of check.provides ?? []) providers.set(fact, check.id);
  }
  for (const check of checks) {
    ctx.progress.start(check.id);
    const started = performance.now();
    const missing = check.needs.find((fact) => ctx.facts[fact] === undefined);
    let outcome: { status: Status; detail: string };
    if (ctx.options.skip.includes(check.id)) {
      outcome = { status: "skip", detail: "skipped by --skip" };
    } else if (missing) {
      const by = providers.get(missing);
      outcome = { status: "skip", detail: `needs ${missing}${by ? ` (${by} did not pass)` : ""}` };
    } else {
      try {
        outcome = await check.run(ctx);
      } catch (error) {
        outcome = fail((error as Error).message);
      }
    }
    const result = { id: check.id, ...outcome, ms: Math.round(performance.now() - started) };
    ctx.report.checks.push(result);
    ctx.progress.end(result);
  }
}
