/** The tasks' kernel (tasks/_lib): what every task relies on. */
import assert from "node:assert/strict";
import {
  DENO_VERSION,
  fail,
  finishReport,
  formatBytes,
  formatMs,
  lastLines,
  parseFlags,
  parseMemUsage,
  parseSize,
  pass,
  poll,
  readDenoJson,
  realBaseImages,
  ROOT,
  run,
  runDeno,
  runSteps,
  STANDIN_IMAGES,
  startReport,
  startTask,
  type Step,
  type StepResult,
  taskCommand,
  uniqueName,
  UsageError,
} from "../tasks/_lib/mod.ts";

Deno.test("parseFlags types values, adds --help and turns mistakes into a UsageError", () => {
  const { values } = parseFlags(["--json", "r.json", "--keep"], {
    json: { type: "string" },
    keep: { type: "boolean", default: false },
  });
  assert.equal(values.json, "r.json");
  assert.equal(values.keep, true);
  assert.equal(values.help, false);
  assert.throws(() => parseFlags(["--nope"], {}), UsageError);
  assert.throws(() => parseFlags(["stray"], {}), /Unexpected argument 'stray'/);
});

Deno.test("the start task yields the server's permissions, entry and arguments", () => {
  const start = startTask();
  assert.equal(start.args[0], "run");
  assert.equal(start.entry, "main.ts");
  assert.ok(start.permissions.some((p) => p.startsWith("--allow-net=")));
  assert.ok(start.permissions.every((p) => /^--(allow|deny)-/.test(p)));
  assert.throws(() => startTask("deno run -A main.ts"), /not --allow-all/);
  assert.throws(() => startTask("node main.js"), /must begin with "deno run"/);
});

Deno.test("project facts agree with the Dockerfile, deno.json and .ci/run", async () => {
  const bases = realBaseImages();
  assert.ok(bases.deno.endsWith(`:${DENO_VERSION}`), bases.deno);
  assert.ok(STANDIN_IMAGES.deno.endsWith(`:${DENO_VERSION}`));
  assert.match(
    await Deno.readTextFile(`${ROOT}/.ci/run`),
    new RegExp(`DENO_VERSION=${DENO_VERSION}\n`),
  );
  assert.ok(taskCommand("start"));
  assert.throws(() => realBaseImages("FROM x\n"), /no default for ARG DENO_IMAGE/);
});

Deno.test("run reports a missing program as code 127 instead of throwing", async () => {
  const result = await run("swft-no-such-program", []);
  assert.equal(result.code, 127);
  assert.match(result.stderr, /Cannot run swft-no-such-program/);
  const echo = await run("sh", ["-c", "cat; echo err >&2; exit 3"], { input: "in" });
  assert.deepEqual([echo.code, echo.stdout, echo.stderr.trim()], [3, "in", "err"]);
});

Deno.test("sizes parse and format in the units docker prints", () => {
  assert.equal(parseSize("150MB"), 150_000_000);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("4096"), 4096);
  assert.throws(() => parseSize("12 parsecs"), /Invalid size "12 parsecs"/);
  assert.equal(formatBytes(152_400_000), "152 MB");
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatMs(850), "850 ms");
  assert.equal(formatMs(12_345), "12.3 s");
  assert.equal(parseMemUsage("12.5MiB / 23.6GiB"), Math.round(12.5 * 1024 ** 2));
  assert.equal(parseMemUsage("--"), undefined);
});

Deno.test("lastLines keeps the last words and drops the legacy builder's banner", () => {
  assert.equal(lastLines("a\n\nb\nc\n", 2), "b | c");
  assert.equal(lastLines("boom\nDEPRECATED: The legacy builder is deprecated\n", 1), "boom");
});

Deno.test("poll returns the first defined value, or undefined when the time is up", async () => {
  let n = 0;
  assert.equal(
    await poll(() => Promise.resolve(++n === 3 ? n : undefined), {
      timeoutMs: 5000,
      intervalMs: 1,
    }),
    3,
  );
  assert.equal(
    await poll(() => Promise.resolve(undefined), { timeoutMs: 20, intervalMs: 5 }),
    undefined,
  );
});

Deno.test("uniqueName gives distinct lower-case names under the prefix", () => {
  const a = uniqueName("Swft Kern");
  assert.match(a, /^swft-kern-[a-z0-9]+$/);
  assert.notEqual(a, uniqueName("Swft Kern"));
});

Deno.test("reports share tool, ok, startedAt, finishedAt and totalMs", () => {
  const report = finishReport({ ...startReport("swft-x"), extra: 1 }, true);
  assert.deepEqual(Object.keys(report), [
    "tool",
    "ok",
    "startedAt",
    "extra",
    "finishedAt",
    "totalMs",
  ]);
  assert.equal(report.ok, true);
  assert.ok(report.totalMs! >= 0);
});

Deno.test("the image's lock keeps the import map's npm packages and drops the tooling's", async () => {
  const { pruneLock } = await import("../tasks/_lib/image_lock.ts");
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.lock`));
  const pruned = pruneLock(lock);
  const names = Object.keys(pruned.npm ?? {}).map((id) => id.slice(0, id.indexOf("@", 1)));
  for (const app of Object.keys(readDenoJson().imports ?? {})) assert.ok(names.includes(app), app);
  for (const tool of ["tar-stream", "dockerfile-ast", "@balena/dockerignore", "streamx"]) {
    assert.ok(!names.includes(tool), `${tool} stays out of the image`);
  }
  assert.deepEqual(pruned.workspace, lock.workspace);
  assert.throws(() => pruneLock({ version: "4" }), /Cannot prune deno.lock version 4/);
});

Deno.test("every deno.json task describes itself, so `deno task` lists what the project can do", () => {
  const { tasks } = readDenoJson();
  for (const [name, task] of Object.entries(tasks)) {
    assert.equal(typeof task, "object", `${name} is a bare command string`);
    const { description, command } = task as { description?: string; command: string };
    assert.ok(description && description.length >= 10, `${name} has no description`);
    assert.ok(command.length > 0, `${name} has no command`);
    assert.equal(taskCommand(name), command);
  }
  assert.throws(() => taskCommand("no-such-task"), /Cannot read the no-such-task task/);
});

Deno.test("runSteps: --skip, missing needs and thrown errors become skip and fail, each timed", async () => {
  const facts: { built?: string; timed?: boolean } = {};
  const ran: string[] = [];
  type Fact = "built" | "timed";
  const step = (id: string, run: () => Promise<ReturnType<typeof pass>>, needs?: Fact[]) => ({
    id,
    needs,
    run: () => (ran.push(id), run()),
  });
  const steps: Step<unknown, Fact>[] = [
    step("skipped", () => Promise.resolve(pass("never"))),
    step("throws", () => Promise.reject(new Error("Cannot read x\nsecond line"))),
    { id: "build", provides: ["built"], run: () => Promise.resolve(fail("no image")) },
    step("needs-build", () => Promise.resolve(pass("never")), ["built"]),
    {
      id: "slow",
      provides: ["timed"],
      async run() {
        await new Promise((resolve) => setTimeout(resolve, 30));
        facts.timed = true;
        return pass("slept");
      },
    },
    step("after", () => Promise.resolve(pass("ok")), ["timed"]),
  ];
  const started: string[] = [];
  const ended: StepResult[] = [];
  const results = await runSteps(steps, undefined, {
    facts,
    skip: (id) => id === "skipped" ? "skipped by --skip" : undefined,
    onStart: (id) => started.push(id),
    onEnd: (result) => ended.push(result),
  });
  assert.deepEqual(results.map((r) => [r.id, r.status, r.detail]), [
    ["skipped", "skip", "skipped by --skip"],
    ["throws", "fail", "Cannot read x"],
    ["build", "fail", "no image"],
    ["needs-build", "skip", "needs built (build did not pass)"],
    ["slow", "pass", "slept"],
    ["after", "pass", "ok"],
  ]);
  assert.deepEqual(ran, ["throws", "after"], "skipped steps never run");
  assert.deepEqual(started, ["throws", "build", "slow", "after"], "skips never start");
  assert.deepEqual(ended, results, "every result, skips included, in order");
  assert.ok(results[4].ms >= 25, `slow step timed: ${results[4].ms} ms`);
  assert.equal(results[0].ms, 0);
});

Deno.test("runSteps with stopAfterFailure: the first failure ends the run, the rest say why", async () => {
  const ran: string[] = [];
  const steps: Step<string[]>[] = ["key", "push", "sign"].map((id) => ({
    id,
    run(log) {
      log.push(id);
      if (id === "push") throw new Error("Cannot push: registry unreachable");
      return Promise.resolve(pass(`${id} done`));
    },
  }));
  const results = await runSteps(steps, ran, { stopAfterFailure: true });
  assert.deepEqual(ran, ["key", "push"], "nothing runs after the failure");
  assert.deepEqual(results.map((r) => [r.id, r.status, r.detail]), [
    ["key", "pass", "key done"],
    ["push", "fail", "Cannot push: registry unreachable"],
    ["sign", "skip", "not run: push failed"],
  ]);
  const without = await runSteps(steps, [], {});
  assert.deepEqual(without.map((r) => r.status), ["pass", "fail", "pass"], "by default all run");
});

Deno.test("doc lint covers every module that is not a test: a new undocumented one fails it", async () => {
  const here = await runDeno(["task", "lint:docs"], { cwd: ROOT });
  assert.equal(here.code, 0, `every module documented: ${here.stderr.slice(-1500)}`);
  // The same task in a folder of undocumented modules: the new folder and the test helper
  // fail it; a test and a fixture are not modules it lints.
  const dir = await Deno.makeTempDir({ prefix: "swft-doc-lint-" });
  try {
    for (
      const path of ["lib/new.ts", "tests/_helper.ts", "tests/a_test.ts", "tests/fixtures/x.ts"]
    ) {
      await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
      await Deno.writeTextFile(`${dir}/${path}`, "export const x = 1;\n");
    }
    const there = await runDeno([
      "task",
      "--config",
      `${ROOT}/deno.json`,
      "--cwd",
      dir,
      "lint:docs",
    ]);
    assert.equal(there.code, 1);
    const flagged = [...there.stderr.matchAll(/--> (\S+):\d+:\d+/g)].map((m) => m[1]).sort();
    assert.deepEqual(flagged, [`${dir}/lib/new.ts`, `${dir}/tests/_helper.ts`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
