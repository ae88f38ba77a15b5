/**
 * Checks as data: a check is a value with an id, the facts it needs, the facts it provides
 * and a run function. The registry array is the order and the id list; a check whose needs
 * are missing is skipped with the reason, by {@linkcode runChecks}, never by the check.
 *
 * @module
 */
import {
  type ContainerInfo,
  fail,
  type ImageInfo,
  type Outcome,
  pass,
  runSteps,
  type Step,
} from "../_lib/mod.ts";
import type { VerifyOptions } from "./args.ts";
import type { VerifyConfig } from "./config.ts";
import type { Dockerfile } from "./dockerfile.ts";
import type { DockerIgnore } from "../_lib/dockerignore.ts";
import type { ImageFs } from "./image_fs.ts";
import type { Progress } from "./progress.ts";
import type { Report } from "./report.ts";

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

export { fail, type Outcome, pass } from "../_lib/mod.ts";

/** Turns a rule's verdict into an outcome. */
export function verdict(v: { ok: boolean; detail: string }): Outcome {
  return v.ok ? pass(v.detail) : fail(v.detail);
}

/**
 * Registers what a run creates for removal when it ends, on success, failure and Ctrl-C (on
 * the kernel's clean-up stack). Images and containers stay with `--keep`.
 */
export interface Created {
  /** An image tag this run creates (never a tag that existed before). */
  image(tag: string): void;
  /** A container this run creates. */
  container(name: string): void;
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
  /** Registers what the run creates, to remove it at the end. */
  created: Created;
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

/** A check: one entry of the registry, a step of the kernel's runner. */
export interface Check extends Step<Context, Fact> {
  /** Its id in the report (a contract). */
  id: string;
  /** Facts that must exist, or the check is skipped naming the first missing one. */
  needs: Fact[];
  /** Facts its run may set on `ctx.facts`. */
  provides?: Fact[];
}

/**
 * Runs the checks in registry order on the kernel's step runner. A check listed in `--skip`,
 * or whose needs are missing, is a skip naming why; everything else is timed and recorded.
 */
export async function runChecks(checks: readonly Check[], ctx: Context): Promise<void> {
  await runSteps(checks, ctx, {
    facts: ctx.facts,
    skip: (id) => ctx.options.skip.includes(id) ? "skipped by --skip" : undefined,
    onStart: (id) => ctx.progress.start(id),
    onEnd: (result) => {
      ctx.report.checks.push(result);
      ctx.progress.end(result);
    },
  });
}
