/**
 * The one reproducible build (the release, its `--rebuild`, verify's builds): from a copy of the
 * context with every time set to the epoch, without cache, as an OCI archive. Not exported by
 * mod.ts: it reads `.dockerignore` through an npm package of the tooling (deps.ts), which the
 * image's builder stage, importing mod.ts for `deno task build`, does not have.
 *
 * @module
 */
import { epochContext } from "./build_context.ts";
import { docker, dockerBuildArgs, type DockerOptions } from "./docker.ts";
import type { RunResult } from "./process.ts";

/**
 * What a reproducible build builds: the project in `root` (its context after `.dockerignore` is
 * copied, every time set to the epoch) with the Dockerfile `file`, read from outside the copy.
 */
export interface ReproducibleBuild {
  /** The project folder whose context is copied. */
  root: string;
  /** The Dockerfile: an absolute path (Docker reads it even when `.dockerignore` leaves it out). */
  file: string;
  /** The Dockerfile stage to build. */
  target: string;
  /** The tag: named in the archive's index.json, and given to the loaded image. */
  tag: string;
  /** `--build-arg` values, `K=V` or a map, in order; `SOURCE_DATE_EPOCH` is added last. */
  buildArgs?: readonly string[] | Readonly<Record<string, string>>;
}

/**
 * The one reproducible build, which the release, its rebuild and verify's `reproducible` check
 * share: BuildKit, no cache (a cached layer keeps the file times of the checkout it was first
 * built from, and rewrite-timestamp clamps only times later than the epoch), from a copy of the
 * context in `dir/context` with every time set to `epoch` (BuildKit's COPY keeps file times), at
 * `SOURCE_DATE_EPOCH=epoch`, written as the OCI archive `dir/image.oci.tar` with its file times
 * clamped to it. Returns the build's result and the archive's path.
 *
 * @example
 * ```ts
 * const file = await Deno.realPath("Dockerfile");
 * const { code, archive } = await buildOciArchive(
 *   { root: ".", file, target: "runtime-deno", tag: "swft:x" },
 *   "1796609368",
 *   await Deno.makeTempDir(),
 * );
 * ```
 */
export async function buildOciArchive(
  build: ReproducibleBuild,
  epoch: string,
  dir: string,
  options: DockerOptions = {},
): Promise<RunResult & { archive: string }> {
  await Deno.mkdir(dir, { recursive: true });
  const context = await epochContext(build.root, `${dir}/context`, Number(epoch));
  const ociArchive = `${dir}/image.oci.tar`;
  const buildArgs = Array.isArray(build.buildArgs)
    ? [...build.buildArgs, `SOURCE_DATE_EPOCH=${epoch}`]
    : { ...build.buildArgs, SOURCE_DATE_EPOCH: epoch };
  const args = dockerBuildArgs({
    context,
    file: build.file,
    target: build.target,
    tag: build.tag,
    buildArgs,
    buildKit: true,
    ociArchive,
    noCache: true,
  });
  const result = await docker(args, {
    ...options,
    env: { ...options.env, SOURCE_DATE_EPOCH: epoch },
  });
  return { ...result, archive: ociArchive };
}

/**
 * {@linkcode buildOciArchive}, then `docker load`ed and tagged `build.tag` (BuildKit refuses
 * `rewrite-timestamp` when it unpacks into the image store). The containerd image store keeps
 * the manifest, so the image id, and the digest a push answers with, are the archive's. Returns
 * the build's result, or the load's on failure.
 *
 * @example
 * ```ts
 * const file = await Deno.realPath("Dockerfile");
 * await buildAndLoad({ root: ".", file, target: "runtime-deno", tag: "swft:x" }, "1796609368", "/tmp/d");
 * ```
 */
export async function buildAndLoad(
  build: ReproducibleBuild,
  epoch: string,
  dir: string,
  options: DockerOptions = {},
): Promise<RunResult> {
  const { archive, ...result } = await buildOciArchive(build, epoch, dir, options);
  if (result.code !== 0) return result;
  try {
    const loaded = await docker(["load", "-i", archive]);
    const image = /Loaded image(?: ID)?: (\S+)/.exec(loaded.stdout)?.[1];
    if (loaded.code !== 0 || !image) return { ...loaded, code: loaded.code || 1 };
    const tagged = image === build.tag ? loaded : await docker(["tag", image, build.tag]);
    return tagged.code === 0 ? result : tagged;
  } finally {
    await Deno.remove(archive).catch(() => {});
  }
}
