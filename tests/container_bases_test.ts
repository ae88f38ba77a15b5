/** The base-image rule of the container tests: run anywhere, ignore with a reason, never fail for want of images. */
import assert from "node:assert/strict";
import { runDeno, STANDIN_IMAGES } from "../tasks/_lib/mod.ts";
import { chooseBaseImages, type Machine } from "./_base_images.ts";

const REAL = { deno: "real/deno:1", runtime: "real/runtime:1" };

function machine(facts: {
  env?: Record<string, string>;
  engine?: boolean;
  present?: string[];
  root?: boolean;
  buildFails?: string;
}): Machine & { built: boolean } {
  const present = new Set(facts.present ?? []);
  const m = {
    built: false,
    env: (name: string) => facts.env?.[name],
    engine: () => Promise.resolve(facts.engine ?? true),
    available: (ref: string) => Promise.resolve(present.has(ref)),
    canBuildStandins: () => Promise.resolve(facts.root ?? false),
    buildStandins() {
      m.built = true;
      if (!facts.buildFails) { for (const ref of Object.values(STANDIN_IMAGES)) present.add(ref); }
      return Promise.resolve(facts.buildFails);
    },
  };
  return m;
}

Deno.test("container bases: SWFT_TEST_* first, then the real bases, then the stand-ins", async () => {
  const env = { SWFT_TEST_DENO_IMAGE: "mine/deno:1", SWFT_TEST_RUNTIME_IMAGE: "mine/rt:1" };
  const all = [...Object.values(REAL), ...Object.values(STANDIN_IMAGES), ...Object.values(env)];
  assert.deepEqual(
    (await chooseBaseImages(machine({ env, present: all }), REAL)).images,
    { deno: "mine/deno:1", runtime: "mine/rt:1" },
  );
  assert.deepEqual((await chooseBaseImages(machine({ present: all }), REAL)).images, REAL);
  const standins = await chooseBaseImages(
    machine({ present: Object.values(STANDIN_IMAGES) }),
    REAL,
  );
  assert.deepEqual(standins.images, STANDIN_IMAGES);
});

Deno.test("container bases: missing stand-ins are built where root and debootstrap allow", async () => {
  const m = machine({ root: true });
  assert.deepEqual((await chooseBaseImages(m, REAL)).images, STANDIN_IMAGES);
  assert.equal(m.built, true);
  const failed = await chooseBaseImages(machine({ root: true, buildFails: "no mirror" }), REAL);
  assert.match(failed.ignore ?? "", /images:standin failed: no mirror/);
});

Deno.test("container bases: a laptop without images, root or engine ignores with the reason and the command", async () => {
  const laptop = await chooseBaseImages(machine({}), REAL);
  assert.equal(laptop.images, undefined);
  assert.match(
    laptop.ignore ?? "",
    /real\/deno:1 and real\/runtime:1 are neither present nor pullable/,
  );
  assert.match(
    laptop.ignore ?? "",
    /run deno task images:standin as root, or docker pull real\/deno:1/,
  );
  const named = await chooseBaseImages(
    machine({ env: { SWFT_TEST_DENO_IMAGE: "nope:0" }, present: Object.values(STANDIN_IMAGES) }),
    REAL,
  );
  assert.match(named.ignore ?? "", /SWFT_TEST_DENO_IMAGE=nope:0 is neither present nor pullable/);
  assert.match(
    (await chooseBaseImages(machine({ engine: false }), REAL)).ignore ?? "",
    /no Docker engine reachable/,
  );
});

/** Runs one verify fixture test in a child `deno test` with `env`; resolves to code and output. */
async function fixtureRun(env: Record<string, string>) {
  const file = new URL("./verify_fixtures_test.ts", import.meta.url).pathname;
  const result = await runDeno(["test", "--allow-all", "--filter", "pre-existing", file], { env });
  return { code: result.code, out: result.stdout + result.stderr };
}

Deno.test("container bases: a laptop run reports its container tests ignored, not failed; CI=true fails them", async () => {
  const env = {
    SWFT_TEST_DENO_IMAGE: "swft-test-absent/deno:0",
    SWFT_TEST_RUNTIME_IMAGE: "swft-test-absent/runtime:0",
  };
  const laptop = await fixtureRun({ ...env, CI: "" });
  assert.equal(laptop.code, 0, laptop.out);
  // With an engine the absent bases are the reason; on a machine without one, the engine is.
  assert.match(
    laptop.out,
    /ignored: (SWFT_TEST_DENO_IMAGE=swft-test-absent\/deno:0 is neither present nor pullable|no Docker engine reachable)/,
  );
  assert.match(laptop.out, /ok \| 0 passed \| 0 failed \| 1 ignored/);
  const ci = await fixtureRun({ ...env, CI: "true" });
  assert.equal(ci.code, 1, ci.out);
  assert.match(
    ci.out,
    /Cannot run under CI: (SWFT_TEST_DENO_IMAGE=swft-test-absent|no Docker engine reachable)/,
  );
});
