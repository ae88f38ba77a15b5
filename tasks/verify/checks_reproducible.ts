/**
 * The `reproducible` check: the target built twice, without cache, from two copies of the
 * context in different folders (file times set to the epoch), with one `SOURCE_DATE_EPOCH`, as OCI archives with the file
 * times clamped to it; it passes only when the two manifest digests agree, and otherwise names
 * the first layer and the files that differ (./oci_diff.ts).
 */
import { formatMs, lastLines } from "../_lib/mod.ts";
import { buildOciArchive } from "../_lib/reproducible.ts";
import { type Check, type Context, fail, pass } from "./check.ts";
import { describeDiff, diffOciArchives } from "./oci_diff.ts";

/**
 * The epoch both builds use: `--build-arg SOURCE_DATE_EPOCH=N` or the environment's (a release
 * passes the commit's time), else 0; the property checked, same input same digest, holds for
 * any fixed value.
 */
export function buildEpoch(env: string | undefined): string {
  return env && /^\d+$/.test(env) ? env : "0";
}

/** One build of the target as the release builds it (the kernel's), into `dir`'s OCI archive. */
async function buildArchive(ctx: Context, dir: string, epoch: string) {
  const { options, names } = ctx;
  const build = {
    root: options.context,
    file: await Deno.realPath(options.file),
    target: options.target,
    // only named in the archive's index.json, never loaded into the engine
    tag: names.rebuild,
    buildArgs: options.buildArgs,
  };
  const result = await buildOciArchive(build, epoch, dir, {
    onLine: (line) => ctx.progress.log(line),
  });
  if (result.code !== 0) {
    throw new Error(`build in ${dir} failed: ${lastLines(result.stdout + result.stderr, 3)}`);
  }
  return result;
}

/** `reproducible`: two clean builds in two folders give one image digest. */
export const REPRODUCIBLE_CHECK: Check = {
  id: "reproducible",
  needs: ["engine", "dockerfile", "runtimeImage"],
  async run(ctx) {
    if (!ctx.facts.engine!.buildKit) {
      return fail("needs BuildKit (OCI output, rewrite-timestamp): unset DOCKER_BUILDKIT=0");
    }
    const epoch = buildEpoch(
      ctx.options.buildArgs.SOURCE_DATE_EPOCH ?? Deno.env.get("SOURCE_DATE_EPOCH"),
    );
    // two folders of different depth: nothing of the build folder's path may reach the image
    const first = await buildArchive(ctx, await ctx.tempDir("swft-verify-repro-"), epoch);
    const other = `${await ctx.tempDir("swft-verify-repro-")}/other/folder`;
    const second = await buildArchive(ctx, other, epoch);
    const diff = await diffOciArchives(first.archive, second.archive);
    ctx.report.builds.reproducible = { epoch: Number(epoch), digests: diff.digests };
    const times = `${formatMs(first.ms)} and ${formatMs(second.ms)}`;
    const how = `no cache, 2 folders, SOURCE_DATE_EPOCH=${epoch}`;
    return diff.same
      ? pass(`${diff.digests[0]} twice (${how}; ${times})`)
      : fail(`not reproducible: ${describeDiff(diff)}`);
  },
};
