/** What all checks share: the run state, the step helper and the cleanup registry. */
import type { VerifyOptions } from "./args.ts";
import type { ContainerInfo, ImageInfo } from "./docker.ts";
import type { ImageFs } from "./image_fs.ts";
import type { LintResult } from "./dockerfile.ts";
import type { Progress } from "./progress.ts";
import type { CheckId, Report, Status } from "./report.ts";

/** Everything verify created, so it can be removed on success, failure and Ctrl-C. */
export interface Resources {
  containers: Set<string>;
  images: Set<string>;
  dirs: Set<string>;
}

/** Mutable state one check leaves for the next. */
export interface RunState {
  engineOk?: boolean;
  /** The engine's `docker build` is BuildKit (else the legacy builder). */
  buildKit?: boolean;
  lint?: LintResult;
  builderTag: string;
  runtimeTag: string;
  builderBuilt?: boolean;
  runtimeBuilt?: boolean;
  builderInfo?: ImageInfo;
  runtimeInfo?: ImageInfo;
  fs?: ImageFs;
  fsError?: string;
  healthcheck?: boolean;
  container?: string;
  containerStarted?: boolean;
  containerInfo?: ContainerInfo;
  baseUrl?: string;
  rootHeaders?: Headers;
}

/** A verify run in progress. */
export interface Run {
  options: VerifyOptions;
  report: Report;
  progress: Progress;
  resources: Resources;
  state: RunState;
  /** Creates a temp dir that cleanup removes. */
  tempDir(prefix: string): Promise<string>;
}

/** What a check body returns. */
export interface Outcome {
  status: Status;
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

/**
 * Runs one check: skipped with `skipReason` (a failed prerequisite) or by `--skip`,
 * otherwise timed, with any thrown error turned into a failure.
 */
export async function step(
  run: Run,
  id: CheckId,
  body: () => Promise<Outcome>,
  skipReason?: string,
): Promise<Status> {
  run.progress.start(id);
  const started = performance.now();
  let outcome: Outcome;
  if (run.options.skip.includes(id)) {
    outcome = { status: "skip", detail: "skipped by --skip" };
  } else if (skipReason) {
    outcome = { status: "skip", detail: skipReason };
  } else {
    try {
      outcome = await body();
    } catch (error) {
      outcome = fail((error as Error).message);
    }
  }
  const result = { id, ...outcome, ms: Math.round(performance.now() - started) };
  run.report.checks.push(result);
  run.progress.end(result);
  return result.status;
}
