/**
 * Images an attacker builds with docker, derived from the base images: each hides what its
 * process may do, or what it was built on, a different way. The release reads them with the
 * functions its `permissions` and `bases` steps run (readImageRun, resolveBaseImage,
 * checkBaseLayers).
 *
 * @module
 */
import assert from "node:assert/strict";
import { docker, dockerOk } from "../tasks/_lib/mod.ts";
import { readImageRun } from "../tasks/release/attestations/permissions.ts";
import { checkBaseLayers, resolveBaseImage } from "../tasks/release/attestations/provenance.ts";
import { parseVerifyArgs, verify } from "../tasks/verify/mod.ts";
import { containerTest, moduleCleanup, testName } from "./_container.ts";

const cleanup = moduleCleanup();

/** Builds `FROM base` plus `lines` into a fresh image under the test prefix. */
async function derived(base: string, label: string, lines: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "swft-derived-" });
  cleanup.defer(() => Deno.remove(dir, { recursive: true }));
  await Deno.writeTextFile(`${dir}/Dockerfile`, [`FROM ${base}`, ...lines].join("\n") + "\n");
  const tag = `${testName(label)}:attack`;
  await dockerOk(["build", "-q", "-t", tag, dir]);
  cleanup.defer(async () => void await docker(["rmi", tag]));
  return tag;
}

const json = (words: string[]) => JSON.stringify(words);

containerTest(
  "permissions: --seed 1 in the ENTRYPOINT does not hide --allow-all",
  async (images) => {
    const ref = await derived(images.deno, "seed", [
      `ENTRYPOINT ${
        json(["/usr/bin/deno", "run", "--cached-only", "--frozen", "--seed", "1", "--allow-all"])
      }`,
      `CMD ${json(["/app/main.ts", "serve"])}`,
    ]);
    const run = await readImageRun(ref, { denoImage: images.deno });
    assert.deepEqual(run.permissions, ["--allow-all"], "attested, so the policy refuses it");
    assert.deepEqual([run.script, run.args, run.runtime], [
      "/app/main.ts",
      ["serve"],
      ["--cached-only", "--frozen", "--seed=1"],
    ]);
  },
);

containerTest(
  "permissions: an unknown flag in the ENTRYPOINT is refused, naming it",
  async (images) => {
    const ref = await derived(images.deno, "unknown", [
      `ENTRYPOINT ${json(["/usr/bin/deno", "run", "--allow-everything", "/app/main.ts"])}`,
    ]);
    await assert.rejects(
      () => readImageRun(ref),
      /^Error: rule deno-run-grammar: "--allow-everything" is not a deno run flag; the image must run deno run \[known flags\] SCRIPT \[args\]$/,
    );
  },
);

containerTest(
  "permissions: a copy of deno at /app/swft with -A is refused, not read from deno.json",
  async (images) => {
    const ref = await derived(images.deno, "copy", [
      "RUN mkdir -p /app && cp /usr/bin/deno /app/swft",
      `ENTRYPOINT ${json(["/app/swft"])}`,
      `CMD ${json(["run", "-A", "/app/main.ts"])}`,
    ]);
    await assert.rejects(
      () => readImageRun(ref),
      /^Error: rule permissions-source: the entry point "\/app\/swft" is neither deno run nor a binary made by deno compile/,
    );
  },
);

containerTest(
  "permissions: a wrapper named deno is refused: the entry point must be DENO_IMAGE's deno",
  async (images) => {
    const ref = await derived(images.deno, "wrapper", [
      // Any program at /usr/bin/deno could run what it likes with the attested flags.
      "RUN cp /bin/sh /usr/bin/deno",
      `ENTRYPOINT ${json(["/usr/bin/deno", "run", "--cached-only", "/app/main.ts"])}`,
    ]);
    await assert.rejects(
      () => readImageRun(ref, { denoImage: images.deno }),
      /^Error: rule permissions-source: \/usr\/bin\/deno in the image is not the deno of DENO_IMAGE=.* \(its bytes differ\); copy deno from DENO_IMAGE$/,
    );
  },
);

containerTest(
  "permissions: NODE_OPTIONS in the image is refused (Deno reads --inspect from it)",
  async (images) => {
    const ref = await derived(images.deno, "nodeopts", [
      "ENV NODE_OPTIONS=--inspect=0.0.0.0:9229",
      `ENTRYPOINT ${json(["/usr/bin/deno", "run", "--cached-only", "/app/main.ts"])}`,
    ]);
    await assert.rejects(
      () => readImageRun(ref),
      /^Error: rule permissions-source: the image sets NODE_OPTIONS/,
    );
  },
);

containerTest(
  "bases: an invented digest for a base image is refused, not recorded",
  async (images) => {
    const invented = `${images.runtime.replace(/:[^/:]+$/, "")}@sha256:${"ab".repeat(32)}`;
    await assert.rejects(
      () => resolveBaseImage("RUNTIME_IMAGE", invented),
      /^Error: rule provenance-base: RUNTIME_IMAGE=.*@sha256:(ab){32} is not an image the engine holds; docker pull it/,
    );
    const resolved = await resolveBaseImage("RUNTIME_IMAGE", images.runtime);
    assert.match(resolved.sha256, /^[0-9a-f]{64}$/);
  },
);

containerTest(
  "bases: an image not built on the recorded RUNTIME_IMAGE is refused",
  async (images) => {
    const ref = await derived(images.deno, "otherbase", ["LABEL swft.test=otherbase"]);
    await assert.rejects(
      () => checkBaseLayers(ref, images.runtime),
      /^Error: rule provenance-base: the layers of .* do not begin with RUNTIME_IMAGE=.*'s; give the RUNTIME_IMAGE the image was built on$/,
    );
    await checkBaseLayers(ref, images.deno); // built on it: passes
  },
);

containerTest(
  "verify: a symlink inside --allow-read fails runtime-read-no-links, naming it",
  async (images) => {
    const ref = await derived(images.deno, "symlink", [
      "RUN mkdir -p /app/static && ln -s /etc /app/static/etc",
      `ENTRYPOINT ${
        json(["/usr/bin/deno", "run", "--cached-only", "--allow-read=/app/static", "/app/main.ts"])
      }`,
    ]);
    const options = parseVerifyArgs([
      "--from",
      ref,
      "--image",
      testName("symlink-verify"),
      "--skip",
      "container-start",
    ]);
    if (options === "help") throw new Error("unreachable");
    const report = await verify(options, { write: () => {} });
    const check = report.checks.find((c) => c.id === "runtime-read-no-links")!;
    assert.deepEqual([check.status, check.detail], [
      "fail",
      "links inside --allow-read=/app/static reach beyond it: /app/static/etc -> /etc",
    ]);
  },
);
