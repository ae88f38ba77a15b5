/**
 * `deno task release --rebuild`: the consumer's rebuild. After the signature and the provenance
 * attestation are verified (the release's own steps), the `rebuild` step reads every input of
 * the build from the verified provenance alone (commit, Dockerfile, target, build arguments
 * with `SOURCE_DATE_EPOCH`, base images by digest), checks the commit out of the rebuilder's
 * clone (or `--source DIR`) into a scratch clone, builds it as the release does (no cache, the
 * context's times set to the epoch, OCI output with rewrite-timestamp) and compares the
 * manifest digest with the image's. A mismatch names the first differing layer and its files
 * (tasks/verify/oci_diff.ts).
 *
 * @module
 */
import { docker, lastLines, pass, ROOT, run, uniqueName } from "../_lib/mod.ts";
import { buildOciArchive } from "../_lib/reproducible.ts";
import { describeDiff, diffOciArchives, readOciImage } from "../verify/oci_diff.ts";
import { type Provenance, provenance, resolveBaseImage } from "./attestations/provenance.ts";
import type { ReleaseRun, ReleaseStep } from "./run.ts";

/** The rule a rebuild that cannot start, or gives another digest, is refused under. */
export const REBUILD_RULE = "rule rebuild";

/** Everything a rebuild needs, as the provenance records it. */
export interface RebuildPlan {
  /** The git commit built. */
  commit: string;
  /** The Dockerfile, relative to the source's root. */
  dockerfile: string;
  /** The Dockerfile stage. */
  target: string;
  /** The build arguments, `K=V`, `SOURCE_DATE_EPOCH` among them. */
  buildArgs: string[];
  /** `SOURCE_DATE_EPOCH`: every time in the image. */
  epoch: string;
  /** The base images: build argument, reference, digest and what the digest is of. */
  bases: { name: string; ref: string; sha256: string }[];
}

/**
 * The rebuild's inputs from a provenance predicate; throws one line naming what is missing
 * (an image the release did not build, or built before builds were reproducible).
 *
 * @example
 * ```ts
 * rebuildPlan(provenance).epoch; // "1796609368"
 * ```
 */
export function rebuildPlan(provenance: Provenance): RebuildPlan {
  const params = provenance.buildDefinition?.externalParameters as {
    builtBy?: string;
    source?: { commit?: string };
    dockerfile?: string;
    target?: string;
    buildArgs?: Record<string, string>;
  };
  if (params?.builtBy !== "release") {
    throw new Error(
      `${REBUILD_RULE}: the provenance says the image was built elsewhere (${params?.builtBy}); ` +
        "only an image deno task release built can be rebuilt from its provenance",
    );
  }
  const buildArgs = params.buildArgs ?? {};
  const epoch = buildArgs.SOURCE_DATE_EPOCH;
  if (!params.source?.commit || !params.target || !epoch) {
    throw new Error(
      `${REBUILD_RULE}: the provenance records no ${
        !params.source?.commit ? "commit" : !params.target ? "target" : "SOURCE_DATE_EPOCH"
      }; release the image again with a release that records it`,
    );
  }
  const bases = (provenance.buildDefinition.resolvedDependencies ?? [])
    .filter((d) => /_IMAGE$/.test(d.name ?? "") && d.digest?.sha256)
    .map((d) => ({
      name: d.name!,
      ref: String((d.annotations as { ref?: string })?.ref ?? ""),
      sha256: d.digest!.sha256,
    }));
  return {
    commit: params.source.commit,
    dockerfile: params.dockerfile ?? "Dockerfile",
    target: params.target,
    buildArgs: Object.entries(buildArgs).map(([k, v]) => `${k}=${v}`),
    epoch,
    bases,
  };
}

/**
 * The provenance of the pinned image, as the verify-attestations step before this one verified it
 * with cosign under the release's key (statements about this digest only).
 */
function verifiedProvenance(r: ReleaseRun): Provenance {
  const statement = r.attested?.[provenance.name]?.[0];
  if (!statement) throw new Error(`${REBUILD_RULE}: no provenance is about ${r.digest}`);
  return statement.predicate as Provenance;
}

/** The base images the engine holds must be the recorded ones (pulled when absent). */
async function checkBases(plan: RebuildPlan): Promise<void> {
  for (const base of plan.bases) {
    let held = await resolveBaseImage(base.name, base.ref).catch(() => undefined);
    if (!held) {
      await docker(["pull", base.ref]);
      held = await resolveBaseImage(base.name, base.ref).catch(() => undefined);
    }
    if (held?.sha256 !== base.sha256) {
      throw new Error(
        `${REBUILD_RULE}: ${base.name}=${base.ref} is ${
          held ? `sha256:${held.sha256.slice(0, 12)}` : "not held"
        } here, the provenance records sha256:${base.sha256.slice(0, 12)}; docker pull the ` +
          "recorded base (or load it) first",
      );
    }
  }
}

/** A scratch clone of `source` at `commit`; throws one line when the commit is not there. */
async function checkout(source: string, commit: string, dir: string): Promise<string> {
  const clone = await run("git", ["clone", "--quiet", "--shared", "--no-checkout", source, dir]);
  const at = clone.code === 0
    ? await run("git", ["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], {
      cwd: dir,
    })
    : clone;
  if (at.code !== 0) {
    throw new Error(
      `${REBUILD_RULE}: commit ${commit.slice(0, 12)} is not in ${source} ` +
        `(${lastLines(at.stderr, 1)}); git fetch it, or give --source DIR`,
    );
  }
  return dir;
}

/** The plan built into an OCI archive, as the release builds (the kernel's buildOciArchive). */
async function rebuildArchive(r: ReleaseRun, plan: RebuildPlan, src: string): Promise<string> {
  const result = await buildOciArchive(
    {
      root: src,
      file: `${src}/${plan.dockerfile}`,
      target: plan.target,
      // named only in the archive's index.json, never loaded into the engine
      tag: uniqueName("swft-rebuild"),
      buildArgs: plan.buildArgs,
    },
    plan.epoch,
    `${r.tmp}/rebuilt`,
  );
  if (result.code !== 0) {
    throw new Error(`rebuild failed: ${lastLines(result.stdout + result.stderr, 2)}`);
  }
  return result.archive;
}

/** The pinned image as an OCI archive (`docker pull`, `docker save`), to name what differs. */
async function pushedArchive(r: ReleaseRun): Promise<string> {
  const archive = `${r.tmp}/pushed.oci.tar`;
  const pull = await docker(["pull", r.pinned!]);
  const save = pull.code === 0 ? await docker(["save", "-o", archive, r.pinned!]) : pull;
  if (save.code !== 0) throw new Error(`docker save ${r.pinned}: ${lastLines(save.stderr, 1)}`);
  return archive;
}

/**
 * `rebuild`: the image rebuilt from its verified provenance; passes only when the manifest
 * digest is the image's, else fails naming the first differing layer and file.
 */
export const rebuildStep: ReleaseStep = {
  id: "rebuild",
  when: (o) => o.rebuild === true,
  async run(r) {
    const plan = rebuildPlan(verifiedProvenance(r));
    await checkBases(plan);
    const src = await checkout(r.options.source ?? ROOT, plan.commit, `${r.tmp}/source`);
    const rebuilt = await rebuildArchive(r, plan, src);
    const digest = (await readOciImage(rebuilt)).digest;
    r.rebuilt = { commit: plan.commit, digest };
    if (digest === r.digest) {
      return pass(`${digest} from ${plan.commit.slice(0, 12)} (${plan.target})`);
    }
    const diff = await diffOciArchives(await pushedArchive(r), rebuilt);
    throw new Error(
      `${REBUILD_RULE}: not reproduced: rebuilt ${digest}, not ${r.digest}; ${describeDiff(diff)}`,
    );
  },
};
