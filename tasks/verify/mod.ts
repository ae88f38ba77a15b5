/**
 * `deno task verify` as a library: build a multi-stage Dockerfile and prove the image,
 * check by check, against an app's config.
 *
 * @example
 * ```ts
 * import { parseVerifyArgs, verify } from "./tasks/verify/mod.ts";
 * const options = parseVerifyArgs(["--target", "runtime-deno"]);
 * if (options !== "help") {
 *   const report = await verify(options);
 *   console.log(report.ok);
 * }
 * ```
 *
 * @module
 */
import {
  CleanupStack,
  docker,
  finishReport,
  inspectContainer,
  inspectImage,
  startReport,
  tempDir,
  uniqueName,
  UsageError,
} from "../_lib/mod.ts";
import type { VerifyOptions } from "./args.ts";
import { type Check, type Context, type Outcome, runChecks } from "./check.ts";
import { BUILD_CHECKS, existingImage, NOT_RUN_ON_EXISTING_IMAGE } from "./checks_build.ts";
import { containerChecks } from "./checks_container.ts";
import { IMAGE_CHECKS } from "./checks_image.ts";
import { REPRODUCIBLE_CHECK } from "./checks_reproducible.ts";
import { loadConfig, type VerifyConfig } from "./config.ts";
import { type ImageFs, loadImageFs } from "./image_fs.ts";
import { createProgress } from "./progress.ts";
import { type CheckResult, exitCode, type Report } from "./report.ts";

import { parseVerifyArgs } from "./args.ts";

export { parseVerifyArgs, type VerifyOptions } from "./args.ts";
export type { Check, Context, Created, Fact, Facts, Outcome } from "./check.ts";
export type { Probe, VerifyConfig } from "./config.ts";
export type { CheckResult, ImageFigures, Report, Status } from "./report.ts";
export type { Dockerfile, Instruction, Stage } from "./dockerfile.ts";
export type { DockerIgnore } from "../_lib/dockerignore.ts";
export type { ImageFs } from "./image_fs.ts";
export type { Progress } from "./progress.ts";
export type { FsEntry } from "./scan.ts";

/**
 * Every check for an app's config, in order: the registry. Its ids are the report's ids.
 *
 * @example
 * ```ts
 * registry(config).map((c) => c.id); // ["engine", "dockerfile-lint", ...]
 * ```
 */
export function registry(config: VerifyConfig): Check[] {
  return [...BUILD_CHECKS, REPRODUCIBLE_CHECK, ...IMAGE_CHECKS, ...containerChecks(config)];
}

/**
 * The checks an image answers by itself: verify's image checks that need nothing but the runtime
 * image (its files, user, labels and HEALTHCHECK), no build and no container. What a consumer can
 * run again on an image it pulled (`deno task release --verify-only`).
 *
 * @example
 * ```ts
 * imageOnlyChecks().map((c) => c.id); // ["image-labels", "runtime-no-shell", ...]
 * ```
 */
export function imageOnlyChecks(): Check[] {
  return IMAGE_CHECKS.filter((c) =>
    c.needs.length > 0 && c.needs.every((need) => need === "runtimeImage")
  );
}

/**
 * Runs {@linkcode imageOnlyChecks} on `ref` as it is (pulled when absent), with verify's defaults
 * (required labels, the project's config); `image` names the run's helper files as `--image`
 * does. Returns each check's result; removes only what it created.
 *
 * @example
 * ```ts
 * const results = await checkImage("127.0.0.1:5000/swft@sha256:...", { image: "swft" });
 * results.filter((c) => c.status !== "pass"); // [] on a good image
 * ```
 */
export async function checkImage(
  ref: string,
  options: { image: string },
  io: VerifyIo = {},
): Promise<CheckResult[]> {
  const parsed = parseVerifyArgs(["--from", ref, "--image", options.image]);
  if (parsed === "help") throw new Error("unreachable");
  const run = await createRun(parsed, io);
  try {
    run.ctx.facts.runtimeImage = await existingImage(ref);
    await runChecks(imageOnlyChecks(), run.ctx);
    return run.ctx.report.checks;
  } finally {
    await run.cleanup();
  }
}

/** How a run prints its progress (default: plain lines on stderr). */
export interface VerifyIo {
  /** Receives the progress text. */
  write?: (text: string) => void;
  /** Rewrite "running" lines in place. */
  tty?: boolean;
  /** Use ANSI colours. */
  color?: boolean;
}

/** A prepared run: its context, its checks and its clean-up. */
export interface VerifyRun {
  /** What the checks share. */
  ctx: Context;
  /** The registry for this run's config. */
  checks: Check[];
  /**
   * Removes what the run created (images and container kept with `--keep`); `runVerify` calls
   * it, and so does Ctrl-C under `runTask` (the kernel's clean-up stack).
   */
  cleanup(): Promise<void>;
}

const stderr = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text));

/**
 * Reads the config and prepares a run; throws `UsageError` for an unknown `--skip` id and
 * an `Error` for a bad config.
 */
export async function createRun(options: VerifyOptions, io: VerifyIo = {}): Promise<VerifyRun> {
  const config = await loadConfig(options.config);
  const checks = registry(config);
  const unknown = options.skip.filter((id) => !checks.some((c) => c.id === id));
  if (unknown.length > 0) throw new UsageError(`--skip: unknown check ${unknown.join(", ")}`);

  const id = uniqueName("verify").slice("verify-".length);
  const tag = (target: string) => `${options.image}:verify-${id}-${target}`;
  const names = {
    builder: tag(options.builderTarget),
    // --from: the checks read the given image itself; it is not this run's, so never removed.
    runtime: options.from ?? tag(options.target),
    rebuild: tag(`${options.target}-rebuild`),
    container: `${options.image.replace(/[^a-zA-Z0-9_.-]/g, "-")}-verify-${id}`,
  };
  // Removed newest first: the container before the images it runs.
  const cleanup = new CleanupStack();
  const unlessKept = (remove: () => Promise<unknown>) => {
    if (!options.keep) cleanup.defer(async () => void await remove());
  };
  const { context, file, target, builderTarget, image, buildArgs } = options;
  const report: Report = {
    ...startReport("swft-verify") as Report,
    options: {
      context,
      file,
      target,
      builderTarget,
      image,
      buildArgs,
      config: options.config,
      ...(options.from ? { from: options.from } : {}),
    },
    checks: [],
    images: { builder: { ref: names.builder }, runtime: { ref: names.runtime } },
    builds: {},
    container: {},
    http: {},
  };
  let layers: Promise<ImageFs> | undefined;
  const ctx: Context = {
    options,
    config,
    report,
    facts: {},
    progress: createProgress({
      tty: io.tty ?? false,
      color: io.color ?? false,
      verbose: options.verbose,
      write: io.write ?? stderr,
    }),
    created: {
      // --no-prune keeps the untagged parent layers: they are Docker's build cache. The tags
      // are this run's own, so a user's IMAGE:TARGET is never removed.
      image: (tag) => unlessKept(() => docker(["rmi", "--no-prune", tag])),
      container: (name) => unlessKept(() => docker(["rm", "-f", name])),
    },
    names,
    tempDir: (prefix) => tempDir(cleanup, prefix),
    runtimeInfo: () => inspectImage(names.runtime),
    layers() {
      return layers ??= (async () => {
        try {
          return await loadImageFs(names.runtime, await ctx.tempDir("swft-verify-image-"));
        } catch (error) {
          throw new Error(`Cannot read the image's layers: ${(error as Error).message}`);
        }
      })();
    },
    containerInfo: () => inspectContainer(names.container),
  };
  return {
    ctx,
    checks,
    cleanup: () => cleanup.disposeAsync(),
  };
}

/** Runs every check of a prepared run in order, cleans up and returns the report. */
export async function runVerify(run: VerifyRun): Promise<Report> {
  const { ctx } = run;
  try {
    const { from } = ctx.options;
    await runChecks(from ? onExistingImage(run.checks, from) : run.checks, ctx);
    const runtime = ctx.facts.runtimeImage
      ? await run.ctx.runtimeInfo().catch(() => undefined)
      : undefined;
    if (runtime) ctx.report.images.runtime.id = runtime.Id;
    const fs = ctx.facts.runtimeImage ? await ctx.layers().catch(() => undefined) : undefined;
    if (fs) {
      ctx.report.images.runtime.layers = fs.layers.length;
      ctx.report.images.runtime.wastedBytes = fs.wastedBytes;
    }
  } finally {
    await run.cleanup();
  }
  // --from: the checks that need a build did not run by design; the rest must pass.
  const counted = ctx.options.from
    ? ctx.report.checks.filter((c) =>
      !(c.status === "skip" && NOT_RUN_ON_EXISTING_IMAGE.includes(c.id))
    )
    : ctx.report.checks;
  return finishReport(ctx.report, exitCode(counted) === 0);
}

/**
 * `--from IMAGE`: the registry with the checks that need a build replaced by steps that report
 * themselves not run; build-runtime's takes the image (pulled if absent) as the runtime image
 * of the checks after it, once the engine answers. One pass of the kernel's runner, as a build.
 */
function onExistingImage(checks: readonly Check[], ref: string): Check[] {
  const notRun: Outcome = { status: "skip", detail: `not run: checks ${ref} as built` };
  return checks.map((check): Check =>
    !NOT_RUN_ON_EXISTING_IMAGE.includes(check.id) ? check : {
      id: check.id,
      needs: [],
      provides: check.id === "build-runtime" ? ["runtimeImage"] : [],
      async run(ctx) {
        if (check.id === "build-runtime" && ctx.facts.engine) {
          ctx.facts.runtimeImage = await existingImage(ref);
        }
        return notRun;
      },
    }
  );
}

/**
 * Verifies an image as `deno task verify` does and returns the report: the library call.
 * Progress goes to stderr unless `io.write` says otherwise.
 */
export async function verify(options: VerifyOptions, io: VerifyIo = {}): Promise<Report> {
  return await runVerify(await createRun(options, io));
}
