/**
 * `deno task screenshot --out PATH` writes where the user said: an absolute path as given, a
 * relative one from the folder the task was started in, and a path that cannot be written is
 * one error line and exit 1 before Chromium starts. Chromium is replaced by a script that
 * writes what Chromium would (`--screenshot=FILE`), so no browser is needed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, runDeno } from "../tasks/_lib/mod.ts";
import { outputPath, PICTURE } from "../tasks/screenshot.ts";
import { cleanEnv } from "./_project.ts";

const PNG = "fake png from the stand-in chromium";

/** A folder with a stand-in `chromium` that writes PNG to its --screenshot file and logs its run. */
async function fakeChromium(): Promise<{ dir: string; chromium: string; ran: string }> {
  const dir = await Deno.makeTempDir({ prefix: "swft-screenshot-test-" });
  const chromium = `${dir}/chromium`;
  const ran = `${dir}/chromium-ran`;
  await Deno.writeTextFile(
    chromium,
    `#!/bin/sh\necho "$@" >"${ran}"\nfor a in "$@"; do case "$a" in --screenshot=*) ` +
      `printf '%s' '${PNG}' >"\${a#--screenshot=}";; esac; done\n`,
  );
  await Deno.chmod(chromium, 0o755);
  return { dir, chromium, ran };
}

/**
 * `deno task screenshot ARGS` started from `cwd`, as a user in that folder runs it: in a clean
 * environment, as `deno task test` sets INIT_CWD, which a nested `deno task` keeps.
 */
function screenshot(args: string[], options: { cwd: string; chromium: string }) {
  return runDeno(["task", "-q", "--config", `${ROOT}/deno.json`, "screenshot", ...args], {
    cwd: options.cwd,
    clearEnv: true,
    env: cleanEnv({ CHROMIUM: options.chromium }),
  });
}

Deno.test("outputPath keeps an absolute --out, resolves a relative one from the start folder", () => {
  assert.equal(outputPath("/srv/pictures/shot.png", "/home/me"), "/srv/pictures/shot.png");
  assert.equal(outputPath("shot.png", "/home/me"), "/home/me/shot.png");
  assert.equal(outputPath("../shot.png", "/home/me/work"), "/home/me/shot.png");
  assert.equal(outputPath(undefined, "/home/me"), `${ROOT}/${PICTURE.out}`);
});

Deno.test("screenshot --out /absolute/path.png writes the picture there", async () => {
  const { dir, chromium } = await fakeChromium();
  try {
    const out = `${dir}/pictures/page.png`;
    await Deno.mkdir(`${dir}/pictures`);
    const result = await screenshot(["--out", out], { cwd: ROOT, chromium });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), out);
    assert.equal(await Deno.readTextFile(out), PNG);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("screenshot --out relative.png writes into the folder the task was started in", async () => {
  const { dir, chromium } = await fakeChromium();
  try {
    await Deno.mkdir(`${dir}/work`);
    const result = await screenshot(["--out", "page.png"], { cwd: `${dir}/work`, chromium });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), `${dir}/work/page.png`);
    assert.equal(await Deno.readTextFile(`${dir}/work/page.png`), PNG);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("screenshot --out into a missing folder: one error line, exit 1, no chromium", async () => {
  const { dir, chromium, ran } = await fakeChromium();
  try {
    const out = `${dir}/missing/page.png`;
    const result = await screenshot(["--out", out], { cwd: ROOT, chromium });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      `screenshot: Cannot write ${out}: the folder ${dir}/missing does not exist`,
    );
    await assert.rejects(Deno.stat(ran), Deno.errors.NotFound, "chromium did not start");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("screenshot without chromium says how to get it, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "swft-screenshot-test-" });
  try {
    const result = await screenshot(["--out", `${dir}/page.png`], {
      cwd: ROOT,
      chromium: `${dir}/no-chromium`,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), /^screenshot: Cannot run \S+no-chromium: install Chromium/);
    assert.equal(result.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
