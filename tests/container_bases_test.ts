/** The base-image rule of the container tests: run anywhere, ignore with a reason, never fail for want of images. */
import assert from "node:assert/strict";
import { STANDIN_IMAGES } from "../tasks/_lib/mod.ts";
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

Deno.test("container bases: a laptop run reports its container tests ignored, not failed; CI=true fails them", async () => {
  const env = {
    SWFT_TEST_DENO_IMAGE: "swft-test-absent/deno:0",
    SWFT_TEST_RUNTIME_IMAGE: "swft-test-absent/runtime:0",
  };
  const file = new URL("./verify_fixtures_test.ts", import.meta.url).pathname;
  const laptop = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--filter", "pre-existing", file],
    env: { ...env, CI: "", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(laptop.stdout) + new TextDecoder().decode(laptop.stderr);
  assert.equal(laptop.code, 0, out);
  assert.match(
    out,
    /ignored: SWFT_TEST_DENO_IMAGE=swft-test-absent\/deno:0 is neither present nor pullable/,
  );
  assert.match(out, /ok \| 0 passed \| 0 failed \| 1 ignored/);
  const ci = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--filter", "pre-existing", file],
    env: { ...env, CI: "true", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(ci.code, 1);
  assert.match(new TextDecoder().decode(ci.stdout), /Container tests cannot run under CI/);
});
