/** Checks up to and including the builds: engine, dockerfile-lint, builds, rebuild-cache. */
import { judgeCacheReuse, parseBuildLog } from "./build_log.ts";
import { copyContext, listContext, pickProbeFile, probeSuffix } from "./context.ts";
import { docker, lastLines } from "./docker.ts";
import { type Dockerfile, lintDockerfile, parseDockerfile } from "./dockerfile.ts";
import { type DockerIgnore, parseDockerIgnore } from "./dockerignore.ts";
import { formatMs } from "./units.ts";
import { fail, pass, type Run, step } from "./runner.ts";

/**
 * Which builder `docker build` uses: DOCKER_BUILDKIT decides when set; otherwise the CLI
 * uses BuildKit exactly when the buildx plugin is installed.
 */
async function detectBuildKit(): Promise<boolean> {
  const env = Deno.env.get("DOCKER_BUILDKIT");
  if (env !== undefined && env !== "") return env !== "0" && env.toLowerCase() !== "false";
  return (await docker(["buildx", "version"])).code === 0;
}

/** engine: the docker CLI reaches a server. */
export function checkEngine(run: Run): Promise<unknown> {
  return step(run, "engine", async () => {
    const result = await docker(["version", "--format", "{{json .}}"]);
    let info: { Client?: { Version?: string }; Server?: { Version?: string } | null } = {};
    try {
      info = JSON.parse(result.stdout);
    } catch {
      // docker prints no JSON when it cannot reach the daemon
    }
    const serverVersion = info.Server?.Version;
    run.state.buildKit = await detectBuildKit();
    run.report.engine = {
      clientVersion: info.Client?.Version,
      serverVersion,
      builder: run.state.buildKit ? "buildkit" : "legacy",
    };
    if (result.code !== 0 || !serverVersion) {
      return fail(`no engine reachable: ${lastLines(result.stderr, 2) || "docker version failed"}`);
    }
    run.state.engineOk = true;
    return pass(
      `server ${serverVersion}, client ${info.Client?.Version}, ${run.report.engine.builder} builder`,
    );
  });
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Parsed inputs the build checks share. */
export interface Inputs {
  dockerfile?: Dockerfile;
  dockerignore?: DockerIgnore;
}

/** dockerfile-lint: pinned bases, USER, HEALTHCHECK, EXPOSE, .dockerignore. */
export async function checkLint(run: Run): Promise<Inputs> {
  const inputs: Inputs = {};
  const { options } = run;
  await step(run, "dockerfile-lint", async () => {
    const text = await readOptional(options.file);
    if (text === undefined) return fail(`${options.file} not found`);
    inputs.dockerfile = parseDockerfile(text);
    const ignoreText = await readOptional(`${options.context}/.dockerignore`);
    inputs.dockerignore = ignoreText === undefined ? undefined : parseDockerIgnore(ignoreText);
    const lint = lintDockerfile(inputs.dockerfile, {
      target: options.target,
      builderTarget: options.builderTarget,
      buildArgs: options.buildArgs,
      dockerignore: inputs.dockerignore,
      requireDigest: options.requireDigest,
    });
    run.state.lint = lint;
    if (lint.problems.length > 0) return fail(lint.problems.join("; "));
    return pass(
      `bases ${lint.bases.map((b) => b.image).join(", ")}; USER ${lint.user}; EXPOSE ${
        lint.exposed.join(" ")
      }; HEALTHCHECK; .dockerignore excludes .env, .git`,
    );
  }, run.state.engineOk ? undefined : "engine unreachable");
  return inputs;
}

function buildArgs(run: Run, target: string, tag: string, context: string, file: string): string[] {
  const args = ["build", "-f", file, "--target", target, "-t", tag];
  for (const [key, value] of Object.entries(run.options.buildArgs)) {
    args.push("--build-arg", `${key}=${value}`);
  }
  if (run.options.noCache) args.push("--no-cache");
  if (run.state.buildKit) args.push("--progress=plain");
  // The legacy builder leaves the container of a failed RUN step behind unless told not to.
  else args.push("--force-rm");
  args.push(context);
  return args;
}

async function build(run: Run, target: string, tag: string) {
  run.resources.images.add(tag);
  const result = await docker(buildArgs(run, target, tag, run.options.context, run.options.file), {
    onLine: (line) => run.progress.log(line),
  });
  const steps = parseBuildLog(result.stdout + "\n" + result.stderr);
  const cached = steps.filter((s) => s.cached === true).length;
  const total = steps.filter((s) => s.cached !== undefined).length;
  return { result, cached, total };
}

/** build-builder and build-runtime: both targets build; times are reported. */
export async function checkBuilds(run: Run): Promise<void> {
  const { options, state, report } = run;
  const noEngine = state.engineOk ? undefined : "engine unreachable";
  await step(run, "build-builder", async () => {
    const { result, cached, total } = await build(run, options.builderTarget, state.builderTag);
    report.builds.builderMs = Math.round(result.ms);
    if (result.code !== 0) {
      return fail(`build failed: ${lastLines(result.stdout + result.stderr, 3)}`);
    }
    state.builderBuilt = true;
    return pass(
      `${state.builderTag} in ${formatMs(result.ms)} (${cached}/${total} steps from cache)`,
    );
  }, noEngine);
  await step(run, "build-runtime", async () => {
    const { result, cached, total } = await build(run, options.target, state.runtimeTag);
    report.builds.runtimeMs = Math.round(result.ms);
    if (result.code !== 0) {
      return fail(`build failed: ${lastLines(result.stdout + result.stderr, 3)}`);
    }
    state.runtimeBuilt = true;
    return pass(
      `${state.runtimeTag} in ${formatMs(result.ms)} (${cached}/${total} steps from cache)`,
    );
  }, noEngine);
}

/**
 * rebuild-cache: in a temporary copy of the context, change a source file's content and
 * rebuild the target; the dependency layer must come from cache.
 */
export function checkRebuildCache(run: Run, inputs: Inputs): Promise<unknown> {
  const { options, state, report } = run;
  return step(run, "rebuild-cache", async () => {
    if (!inputs.dockerfile) return fail("no Dockerfile to rebuild");
    const files = await listContext(options.context, inputs.dockerignore);
    const values = { ...inputs.dockerfile.globalArgs, ...options.buildArgs };
    const probe = options.touch ?? pickProbeFile(inputs.dockerfile, files, values);
    if (!probe) return fail("found no source file the build copies; name one with --touch FILE");
    if (!files.includes(probe)) return fail(`--touch ${probe} is not in the build context`);
    const dir = await run.tempDir("swft-verify-context-");
    await copyContext(options.context, dir, files);
    await Deno.writeTextFile(`${dir}/${probe}`, probeSuffix(probe, new Date().toISOString()), {
      append: true,
    });
    // the original Dockerfile: Docker reads it even when .dockerignore leaves it out of the
    // context, and the CLI sends one from outside the context along with it
    const file = await Deno.realPath(options.file);
    const tag = `${state.runtimeTag}-verify-rebuild`;
    run.resources.images.add(tag);
    const args = buildArgs(run, options.target, tag, dir, file).filter((a) => a !== "--no-cache");
    const result = await docker(args, { onLine: (line) => run.progress.log(line) });
    report.builds.rebuildMs = Math.round(result.ms);
    if (result.code !== 0) {
      return fail(`rebuild failed: ${lastLines(result.stdout + result.stderr, 3)}`);
    }
    const verdict = judgeCacheReuse(parseBuildLog(result.stdout + "\n" + result.stderr));
    report.builds.cachedSteps = verdict.cached;
    report.builds.rebuiltSteps = verdict.rebuilt;
    const detail = `changed ${probe}; warm rebuild ${formatMs(result.ms)}; ${verdict.detail}`;
    return verdict.ok ? pass(detail) : fail(detail);
  }, state.runtimeBuilt ? undefined : "runtime image not built");
}
