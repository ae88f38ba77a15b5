/**
 * `deno task verify`: build a multi-stage Dockerfile and prove the image, check by check.
 *
 * @example
 * ```ts
 * const report = await runVerify(options, { write: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)) });
 * Deno.exit(exitCode(report.checks));
 * ```
 */
import type { VerifyOptions } from "./args.ts";
import { checkBuilds, checkEngine, checkLint, checkRebuildCache } from "./checks_build.ts";
import { checkContainer } from "./checks_container.ts";
import { checkImageLabels, checkImageSize, checkRuntimeFs } from "./checks_image.ts";
import { docker } from "./docker.ts";
import { createProgress } from "./progress.ts";
import { exitCode, type Report } from "./report.ts";
import type { Resources, Run } from "./runner.ts";

export { parseVerifyArgs } from "./args.ts";
export { exitCode, renderSummary } from "./report.ts";

/** How a run prints. */
export interface RunIo {
  write: (text: string) => void;
  tty?: boolean;
  color?: boolean;
}

/** A fresh report for these options. */
export function newReport(options: VerifyOptions): Report {
  const { context, file, target, builderTarget, image, buildArgs } = options;
  return {
    tool: "swft-verify",
    ok: false,
    startedAt: new Date().toISOString(),
    options: { context, file, target, builderTarget, image, buildArgs },
    checks: [],
    images: {
      builder: { ref: `${image}:${builderTarget}` },
      runtime: { ref: `${image}:${target}` },
    },
    builds: {},
    container: {},
    http: {},
  };
}

/** Removes what the run created: containers and tags (unless `keep`), and temp dirs. */
export async function cleanup(resources: Resources, keep: boolean): Promise<void> {
  if (!keep) {
    for (const name of resources.containers) await docker(["rm", "-f", name]);
    // --no-prune keeps the untagged parent layers: they are Docker's build cache
    for (const tag of resources.images) await docker(["rmi", "--no-prune", tag]);
    resources.containers.clear();
    resources.images.clear();
  }
  for (const dir of resources.dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  resources.dirs.clear();
}

/** Creates the run: shared by {@linkcode runVerify} and the signal handlers of the entry. */
export function createRun(options: VerifyOptions, io: RunIo): Run {
  const resources: Resources = { containers: new Set(), images: new Set(), dirs: new Set() };
  return {
    options,
    report: newReport(options),
    progress: createProgress({
      tty: io.tty ?? false,
      color: io.color ?? false,
      verbose: options.verbose,
      write: io.write,
    }),
    resources,
    state: {
      builderTag: `${options.image}:${options.builderTarget}`,
      runtimeTag: `${options.image}:${options.target}`,
    },
    async tempDir(prefix) {
      const dir = await Deno.makeTempDir({ prefix });
      resources.dirs.add(dir);
      return dir;
    },
  };
}

/** Runs every check in order and cleans up; returns the finished report. */
export async function runVerify(run: Run): Promise<Report> {
  const started = performance.now();
  try {
    await checkEngine(run);
    const inputs = await checkLint(run);
    await checkBuilds(run);
    await checkRebuildCache(run, inputs);
    await checkImageSize(run);
    await checkImageLabels(run);
    await checkRuntimeFs(run);
    await checkContainer(run);
  } finally {
    run.state.fs?.close();
    await cleanup(run.resources, run.options.keep);
  }
  run.report.finishedAt = new Date().toISOString();
  run.report.totalMs = Math.round(performance.now() - started);
  run.report.ok = exitCode(run.report.checks) === 0;
  return run.report;
}
