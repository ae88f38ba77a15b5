/** Checks up to and including the builds: engine, dockerfile-lint, builds, rebuild-cache. */
import {
  docker,
  type DockerBuild,
  dockerBuildArgs,
  formatMs,
  lastLines,
  usesBuildKit,
} from "../_lib/mod.ts";
import { type CacheVerdict, judgeCacheReuse, parseBuildLog } from "./build_log.ts";
import { type Check, type Context, fail, pass } from "./check.ts";
import { copyContext, listContext } from "../_lib/build_context.ts";
import { parseDockerIgnore } from "../_lib/dockerignore.ts";
import { buildAndLoad } from "../_lib/reproducible.ts";
import { pickProbeFile, probeSuffix } from "./context.ts";
import { lintDockerfile, parseDockerfile } from "./dockerfile.ts";

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** The run's `docker build`: its build args, `--no-cache` and builder, unless `build` says. */
function buildArgs(ctx: Context, build: DockerBuild): string[] {
  return dockerBuildArgs({
    buildArgs: ctx.options.buildArgs,
    noCache: ctx.options.noCache,
    buildKit: ctx.facts.engine?.buildKit,
    ...build,
  });
}

/**
 * The rebuild-cache verdict from one probe, or two. Seen once in CI: a warm rebuild ran the
 * dependency step again although its manifests were unchanged (the engine kept no result for
 * it). A second, different change settles it: where the Dockerfile copies sources before the
 * dependency step, that step runs again on every change; where the engine missed, this time it
 * comes from cache. The first miss stays in the note.
 */
export async function settleCacheProbe(
  probe: () => Promise<{ cache: CacheVerdict; ms: number } | string>,
): Promise<{ cache: CacheVerdict; ms: number; note: string } | string> {
  const first = await probe();
  if (typeof first === "string" || first.cache.ok || !first.cache.dependencyRerun) {
    return typeof first === "string" ? first : { ...first, note: "" };
  }
  const second = await probe();
  if (typeof second === "string") return second;
  const missed = first.cache.detail.replace(/^no dependency step came from cache; /, "");
  return { ...second, note: ` (a first rebuild missed: ${missed})` };
}

/**
 * One probe of the rebuild-cache check: append a new line to `probe` in the context copy `dir`
 * and rebuild the target warm. The verdict and the time, or a failure line.
 */
async function probeRebuild(
  ctx: Context,
  dir: string,
  probe: string,
): Promise<{ cache: CacheVerdict; ms: number } | string> {
  const { options, names } = ctx;
  await Deno.writeTextFile(`${dir}/${probe}`, probeSuffix(probe, new Date().toISOString()), {
    append: true,
  });
  // the original Dockerfile: Docker reads it even when .dockerignore leaves it out of the
  // context, and the CLI sends one from outside the context along with it
  const file = await Deno.realPath(options.file);
  ctx.created.image(names.rebuild);
  // A warm rebuild: --no-cache would defeat the check.
  const args = buildArgs(ctx, {
    target: options.target,
    tag: names.rebuild,
    context: dir,
    file,
    noCache: false,
  });
  const result = await docker(args, { onLine: (line) => ctx.progress.log(line) });
  if (result.code !== 0) return `rebuild failed: ${lastLines(result.stdout + result.stderr, 3)}`;
  return {
    cache: judgeCacheReuse(parseBuildLog(result.stdout + "\n" + result.stderr)),
    ms: result.ms,
  };
}

/** The release's build: from the context with its times set to `epoch`, no cache, loaded. */
async function buildReproducibly(
  ctx: Context,
  build: { file: string; target: string; tag: string },
  epoch: string,
  onLine: (line: string) => void,
) {
  const dir = await ctx.tempDir("swft-verify-oci-");
  const file = await Deno.realPath(build.file);
  const { context: root, buildArgs } = ctx.options;
  return await buildAndLoad({ ...build, root, file, buildArgs }, epoch, dir, { onLine });
}

/** Builds `target` as `tag` (a tag of this run only) and reports time and cache use. */
function buildCheck(id: string, which: "builder" | "runtime"): Check {
  return {
    id,
    needs: ["engine"],
    provides: [which === "builder" ? "builderImage" : "runtimeImage"],
    async run(ctx) {
      const { options, names, report } = ctx;
      const target = which === "builder" ? options.builderTarget : options.target;
      const tag = names[which];
      ctx.created.image(tag);
      const { context, file } = options;
      const onLine = (line: string) => ctx.progress.log(line);
      // --build-arg SOURCE_DATE_EPOCH=N (as a release passes it): the runtime image is built as
      // the release builds it, reproducibly, so its id is the pushed image's
      const epoch = options.buildArgs.SOURCE_DATE_EPOCH;
      const result = which === "runtime" && epoch !== undefined && ctx.facts.engine?.buildKit
        ? await buildReproducibly(ctx, { file, target, tag }, epoch, onLine)
        : await docker(buildArgs(ctx, { target, tag, context, file }), { onLine });
      report.builds[which === "builder" ? "builderMs" : "runtimeMs"] = Math.round(result.ms);
      if (result.code !== 0) {
        return fail(`build failed: ${lastLines(result.stdout + result.stderr, 3)}`);
      }
      ctx.facts[which === "builder" ? "builderImage" : "runtimeImage"] = tag;
      const steps = parseBuildLog(result.stdout + "\n" + result.stderr);
      const cached = steps.filter((s) => s.cached === true).length;
      const total = steps.filter((s) => s.cached !== undefined).length;
      return pass(`${tag} in ${formatMs(result.ms)} (${cached}/${total} steps from cache)`);
    },
  };
}

/**
 * The checks that need a build (the builds, the cache reuse and the size against the builder
 * image): with `--from IMAGE` they are reported as skip, "not run", and the image is used as
 * it is.
 */
export const NOT_RUN_ON_EXISTING_IMAGE: readonly string[] = [
  "build-builder",
  "build-runtime",
  "rebuild-cache",
  "reproducible",
  "image-size",
];

/**
 * With `--from IMAGE`: the image, pulled when the engine does not have it, as the runtime image
 * the later checks read; throws one line when it cannot be had.
 */
export async function existingImage(ref: string): Promise<string> {
  if ((await docker(["image", "inspect", "--format", "{{.Id}}", ref])).code === 0) return ref;
  const pull = await docker(["pull", ref]);
  if (pull.code !== 0) {
    throw new Error(
      `Cannot check ${ref}: no such local image, and docker pull failed: ${
        lastLines(pull.stderr || pull.stdout, 1)
      }`,
    );
  }
  return ref;
}

/** engine, dockerfile-lint, build-builder, build-runtime and rebuild-cache, in order. */
export const BUILD_CHECKS: readonly Check[] = [
  {
    id: "engine",
    needs: [],
    provides: ["engine"],
    async run(ctx) {
      const result = await docker(["version", "--format", "{{json .}}"]);
      let info: { Client?: { Version?: string }; Server?: { Version?: string } | null } = {};
      try {
        info = JSON.parse(result.stdout);
      } catch {
        // docker prints no JSON when it cannot reach the daemon
      }
      const serverVersion = info.Server?.Version;
      const buildKit = await usesBuildKit();
      const builder = buildKit ? "buildkit" : "legacy";
      ctx.report.engine = { clientVersion: info.Client?.Version, serverVersion, builder };
      if (result.code !== 0 || !serverVersion) {
        return fail(
          `no engine reachable: ${lastLines(result.stderr, 2) || "docker version failed"}`,
        );
      }
      ctx.facts.engine = { buildKit };
      return pass(`server ${serverVersion}, client ${info.Client?.Version}, ${builder} builder`);
    },
  },
  {
    id: "dockerfile-lint",
    needs: [],
    provides: ["dockerfile"],
    async run(ctx) {
      const { options } = ctx;
      const text = await readOptional(options.file);
      if (text === undefined) return fail(`${options.file} not found`);
      const dockerfile = parseDockerfile(text);
      const ignoreText = await readOptional(`${options.context}/.dockerignore`);
      const dockerignore = ignoreText === undefined ? undefined : parseDockerIgnore(ignoreText);
      ctx.facts.dockerfile = { dockerfile, dockerignore };
      const lint = lintDockerfile(dockerfile, {
        target: options.target,
        builderTarget: options.builderTarget,
        buildArgs: options.buildArgs,
        dockerignore,
        requireDigest: options.requireDigest,
      });
      if (lint.problems.length > 0) return fail(lint.problems.join("; "));
      return pass(
        `bases ${lint.bases.map((b) => b.image).join(", ")}; USER ${lint.user}; EXPOSE ${
          lint.exposed.join(" ")
        }; HEALTHCHECK; .dockerignore excludes .env, .git`,
      );
    },
  },
  buildCheck("build-builder", "builder"),
  buildCheck("build-runtime", "runtime"),
  {
    // In a temporary copy of the context, change a source file's content (mtime alone does
    // not invalidate Docker's cache) and rebuild: the dependency layer must come from cache.
    id: "rebuild-cache",
    needs: ["dockerfile", "runtimeImage"],
    async run(ctx) {
      const { options, report } = ctx;
      const { dockerfile, dockerignore } = ctx.facts.dockerfile!;
      const files = await listContext(options.context, dockerignore);
      const values = { ...dockerfile.globalArgs, ...options.buildArgs };
      const probe = options.touch ?? pickProbeFile(dockerfile, files, values);
      if (!probe) return fail("found no source file the build copies; name one with --touch FILE");
      if (!files.includes(probe)) return fail(`--touch ${probe} is not in the build context`);
      const dir = await ctx.tempDir("swft-verify-context-");
      await copyContext(options.context, dir, files);
      const settled = await settleCacheProbe(() => probeRebuild(ctx, dir, probe));
      if (typeof settled === "string") return fail(settled);
      const { cache, ms, note } = settled;
      report.builds.rebuildMs = Math.round(ms);
      report.builds.cachedSteps = cache.cached;
      report.builds.rebuiltSteps = cache.rebuilt;
      const detail = `changed ${probe}; warm rebuild ${formatMs(ms)}; ${cache.detail}${note}`;
      return cache.ok ? pass(detail) : fail(detail);
    },
  },
];
