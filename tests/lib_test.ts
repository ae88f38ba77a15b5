/** The tasks' kernel (tasks/_lib): what every task relies on. */
import assert from "node:assert/strict";
import {
  baseImageArgs,
  CleanupStack,
  CommandError,
  delay,
  DENO_VERSION,
  disposeOpenStacks,
  dockerBuildArgs,
  dockerOk,
  fail,
  finishReport,
  formatBytes,
  formatMs,
  freePort,
  killRunning,
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
  runOk,
  runSteps,
  sizeInBytes,
  spawn,
  STANDIN_IMAGES,
  startReport,
  startTask,
  type Step,
  type StepResult,
  stopChild,
  taskCommand,
  tempDir,
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

Deno.test("the GitHub workflows install the Deno and cdxgen that .ci installs", async () => {
  // Three files pin cdxgen (the SBOM's generator, whose version the SBOM records): .ci's
  // installer, which `deno task release:tools` runs too, and each workflow's own step.
  const tools = await Deno.readTextFile(`${ROOT}/.ci/install_tools.sh`);
  const cdxgen = tools.match(/^CDXGEN_VERSION=(\S+)$/m)?.[1];
  assert.ok(cdxgen, ".ci/install_tools.sh sets CDXGEN_VERSION");
  const ci = await Deno.readTextFile(`${ROOT}/.github/workflows/ci.yml`);
  const release = await Deno.readTextFile(`${ROOT}/.github/workflows/release.yml`);
  assert.ok(
    ci.includes(`@cyclonedx/cdxgen@${cdxgen} `) || ci.includes(`@cyclonedx/cdxgen@${cdxgen}\n`),
    "ci.yml's cdxgen",
  );
  assert.match(release, new RegExp(`^\\s+CDXGEN_VERSION: ${cdxgen.replaceAll(".", "\\.")}$`, "m"));
  for (const [name, text] of [["ci.yml", ci], ["release.yml", release]]) {
    const versions = [...text.matchAll(/deno-version: (\S+)/g)].map((m) => m[1]);
    assert.ok(versions.length > 0, `${name} sets up Deno`);
    assert.deepEqual(new Set(versions), new Set([DENO_VERSION]), `${name}'s deno-version`);
  }
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
  // Kubernetes memory quantities, from the same table
  assert.equal(sizeInBytes("128Mi"), 128 * 1024 ** 2);
  assert.equal(sizeInBytes("12 parsecs"), undefined);
});

Deno.test("runOk returns trimmed stdout, or throws one line naming the command", async () => {
  assert.equal(await runOk("sh", ["-c", "echo ' out '"]), "out");
  await assert.rejects(
    () => runOk("sh", ["-c", "echo first >&2; echo last words >&2; exit 3"]),
    (error) =>
      error instanceof CommandError && error.result.code === 3 &&
      error.message === "Cannot run sh: first | last words",
  );
  await assert.rejects(
    () => runOk("swft-no-such-program", ["x"]),
    /^CommandError: Cannot run swft-no-such-program: /,
  );
  await assert.rejects(
    () => dockerOk(["swft-no-such-command", "--flag"]),
    /Cannot run docker swft-no-such-command: |Cannot run docker: /,
  );
});

Deno.test("freePort gives a 127.0.0.1 port a server can listen on", () => {
  const port = freePort();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  assert.equal((listener.addr as Deno.NetAddr).port, port);
  listener.close();
});

Deno.test("dockerBuildArgs: one argument list for every build, by builder", () => {
  const build = { context: "ctx", target: "runtime", tag: "swft:x" };
  assert.deepEqual(dockerBuildArgs({ ...build, buildArgs: ["A=1", "A=2"] }), [
    "build",
    "--target",
    "runtime",
    "-t",
    "swft:x",
    "--build-arg",
    "A=1",
    "--build-arg",
    "A=2",
    "--force-rm",
    "ctx",
  ]);
  assert.deepEqual(
    dockerBuildArgs({
      ...build,
      file: "ctx/Dockerfile",
      buildArgs: baseImageArgs(STANDIN_IMAGES),
      noCache: true,
      quiet: true,
      buildKit: true,
    }),
    [
      "build",
      "-f",
      "ctx/Dockerfile",
      "--target",
      "runtime",
      "-t",
      "swft:x",
      "--build-arg",
      `DENO_IMAGE=${STANDIN_IMAGES.deno}`,
      "--build-arg",
      `RUNTIME_IMAGE=${STANDIN_IMAGES.runtime}`,
      "--no-cache",
      "--quiet",
      "--progress=plain",
      "--provenance=false",
      "ctx",
    ],
  );
});

Deno.test("CleanupStack: newest first, once, on a throw too; disposeOpenStacks takes the open ones", async () => {
  const order: string[] = [];
  let dir = "";
  await assert.rejects(async () => {
    await using cleanup = new CleanupStack();
    dir = await tempDir(cleanup, "swft-lib-test-");
    cleanup.defer(() => void order.push("first registered"));
    cleanup.defer(() => void order.push("last registered"));
    throw new Error("the scope fails");
  }, /the scope fails/);
  assert.deepEqual(order, ["last registered", "first registered"]);
  await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound, "the temp dir is gone");

  const open = new CleanupStack();
  let runs = 0;
  open.defer(async () => {
    await delay(20);
    runs++;
  });
  const closed = new CleanupStack();
  closed.defer(() => void runs++);
  await closed.disposeAsync();
  // the signal handler and the scope's end at once: one run, both wait for it
  await Promise.all([disposeOpenStacks(), open.disposeAsync()]);
  assert.equal(runs, 2);
  await open.disposeAsync();
  assert.equal(runs, 2, "a disposed stack runs nothing again");
});

Deno.test("runTask on SIGINT disposes the open clean-up stacks, then exits 130", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-lib-test-");
  const script = `${dir}/task.ts`;
  await Deno.writeTextFile(
    script,
    `import { CleanupStack, runTask, tempDir } from ${JSON.stringify(`${ROOT}/tasks/_lib/mod.ts`)};
runTask("probe", async () => {
  await using cleanup = new CleanupStack();
  console.log(await tempDir(cleanup, "swft-lib-test-probe-"));
  await new Promise((resolve) => setTimeout(resolve, 30_000)); // the signal comes first
  return 0;
});
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const probeDir = (await reader.read()).value?.trim() ?? "";
  assert.ok((await Deno.stat(probeDir)).isDirectory, "the task made its folder");
  child.kill("SIGINT");
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  await reader.cancel();
  assert.equal(status.code, 130);
  assert.match(stderr, /probe: SIGINT, cleaning up/);
  await assert.rejects(() => Deno.stat(probeDir), Deno.errors.NotFound, "removed before the exit");
});

Deno.test("spawn: a long-running child stops with its clean-up stack and on killRunning", async () => {
  const sleeper = () => spawn("sleep", { args: ["30"], stdout: "null", stderr: "null" });
  let child: Deno.ChildProcess;
  {
    await using cleanup = new CleanupStack();
    child = spawn("sleep", { args: ["30"], stdout: "null", stderr: "null", cleanup });
  }
  assert.equal((await child.status).signal, "SIGTERM", "the stack's disposal stopped it");
  const a = sleeper();
  killRunning();
  assert.equal((await a.status).signal, "SIGTERM", "the signal handler's killRunning sees it");
  const b = sleeper();
  assert.equal((await stopChild(b)).signal, "SIGTERM");
  assert.equal((await stopChild(b)).signal, "SIGTERM", "stopping an exited child only waits");
  assert.throws(() => spawn("swft-no-such-program"), /^Error: Cannot run swft-no-such-program: /);
});

Deno.test("lastLines keeps the last words and drops the legacy builder's banner", () => {
  assert.equal(lastLines("a\n\nb\nc\n", 2), "b | c");
  assert.equal(lastLines("boom\nDEPRECATED: The legacy builder is deprecated\n", 1), "boom");
  // A build that fails at its first step, as verify's build checks read it (stdout + stderr).
  const firstStep = "Sending build context to Docker daemon  2.048kB\n" +
    "Step 1/1 : FROM 127.0.0.1:1/nope:1\n" +
    "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n" +
    "            Install the buildx component to build images with BuildKit:\n" +
    "            https://docs.docker.com/go/buildx/\n\n" +
    'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused\n';
  assert.equal(
    lastLines(firstStep, 3),
    'Step 1/1 : FROM 127.0.0.1:1/nope:1 | Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: ' +
      "connect: connection refused",
  );
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
        await delay(30);
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
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-doc-lint-");
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
});
