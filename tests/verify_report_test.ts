/**
 * What a failed `deno task verify` tells the user on the terminal: the first failure's reason
 * in full (the table clips it), and when a base image cannot be pulled, the one command that
 * builds without a registry, as docs/verify.md gives it. The last test runs verify on a
 * fixture whose base cannot be pulled anywhere (a registry on port 1 of the loopback), so it
 * needs an engine but no network and no base image.
 *
 * @module
 */
import assert from "node:assert/strict";
import { engineVersion, ROOT, runDeno, STANDIN_IMAGES } from "../tasks/_lib/mod.ts";
import {
  type CheckResult,
  failureNotes,
  pullFailed,
  renderSummary,
  type Report,
  STANDIN_COMMAND,
} from "../tasks/verify/report.ts";
import { requiredTest, testName } from "./_container.ts";

const LEGACY_PULL =
  "build failed: Step 2/19 : ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot" +
  ' | Step 3/19 : FROM ${DENO_IMAGE} AS deps | Get "https://registry-1.docker.io/v2/": dial tcp:' +
  " lookup registry-1.docker.io on 10.255.255.53:53: no such host";
const BUILDKIT_PULL =
  "build failed: ERROR: failed to solve: denoland/deno:2.9.6: failed to resolve" +
  " source metadata for docker.io/denoland/deno:2.9.6: failed to do request";
const RUN_FAILED = "build failed: Step 7/19 : RUN deno install --frozen | error: Cannot resolve" +
  ' "npm:hono": the lockfile is out of date | The command returned a non-zero code: 1';

function result(id: string, status: CheckResult["status"], detail: string): CheckResult {
  return { id, status, detail, ms: 1 };
}

function report(checks: CheckResult[]): Report {
  return {
    tool: "swft-verify",
    ok: false,
    startedAt: new Date(0).toISOString(),
    totalMs: 900,
    options: {
      context: ".",
      file: "Dockerfile",
      target: "runtime",
      builderTarget: "builder",
      image: "swft",
      buildArgs: {},
      config: "verify.config.json",
    },
    checks,
    images: { builder: { ref: "b" }, runtime: { ref: "r" } },
    builds: {},
    container: {},
    http: {},
  };
}

Deno.test("pullFailed: a failing FROM step or BuildKit's metadata error, not a failing RUN", () => {
  assert.equal(pullFailed(LEGACY_PULL), true);
  assert.equal(pullFailed(BUILDKIT_PULL), true);
  assert.equal(
    pullFailed("build failed: pull access denied for swft-x, repository does not exist"),
    true,
  );
  assert.equal(pullFailed(RUN_FAILED), false);
  // a FROM that succeeded, then a RUN that failed: the failing step is the RUN
  assert.equal(pullFailed(`Step 1/2 : FROM deno | ---> 1a2b | ${RUN_FAILED}`), false);
});

Deno.test("a failed run's summary ends with the first failure in full, then the verdict", () => {
  const checks = [
    result("engine", "pass", "server 20.10.24"),
    result("build-builder", "fail", RUN_FAILED),
    result("build-runtime", "fail", "build failed: something else"),
    result("rebuild-cache", "skip", "needs runtimeImage (build-runtime did not pass)"),
  ];
  const lines = renderSummary(report(checks), { color: false, width: 80 }).split("\n");
  // The table clips the detail to the terminal's width...
  const row = lines.find((l) => l.startsWith("build-builder"))!;
  assert.ok(row.endsWith("…") && row.length <= 80, row);
  // ...the note after it does not, and only the first failure gets one.
  assert.deepEqual(lines.slice(-2), [
    `first failure: build-builder: ${RUN_FAILED}`,
    "NOT VERIFIED: 1 passed, 2 failed, 1 skipped in 900 ms",
  ]);
});

Deno.test("a base that cannot be pulled adds one line: the stand-in command", () => {
  const notes = failureNotes([
    result("engine", "pass", "server 20.10.24"),
    result("build-builder", "fail", LEGACY_PULL),
  ]);
  assert.equal(notes.length, 2);
  assert.equal(notes[0], `first failure: build-builder: ${LEGACY_PULL}`);
  assert.match(notes[1], /^hint: a base image cannot be pulled/);
  assert.ok(notes[1].includes(STANDIN_COMMAND), notes[1]);
  assert.deepEqual(failureNotes([result("engine", "pass", "ok")]), [], "nothing failed");
});

Deno.test("the stand-in command of the hint is the one docs/verify.md documents", async () => {
  assert.match(STANDIN_COMMAND, /^deno task images:standin && deno task verify /);
  assert.ok(STANDIN_COMMAND.includes(`DENO_IMAGE=${STANDIN_IMAGES.deno}`));
  assert.ok(STANDIN_COMMAND.includes(`RUNTIME_IMAGE=${STANDIN_IMAGES.runtime}`));
  // The documented command, its continuation lines joined, starts with the hint's verify part.
  const docs = (await Deno.readTextFile(`${ROOT}/docs/verify.md`)).replace(/\\\n\s*/g, "");
  const verifyPart = STANDIN_COMMAND.split(" && ")[1];
  assert.ok(docs.replace(/ +/g, " ").includes(verifyPart), `docs/verify.md lost: ${verifyPart}`);
  assert.match(await Deno.readTextFile(`${ROOT}/docs/verify.md`), /deno task images:standin/);
});

const engine = await engineVersion();

requiredTest(
  "verify on a base that cannot be pulled prints the full reason and the stand-in command",
  engine ? undefined : "no Docker engine reachable; start one (dockerd or Docker Desktop)",
  async () => {
    const { code, stdout } = await runDeno([
      "task",
      "-q",
      "verify",
      "--context",
      "tests/fixtures/verify",
      "--config",
      "tests/fixtures/verify/verify.json",
      "--image",
      testName("unpullable"),
      // Nothing listens on port 1 of the loopback: the pull fails at once, with no network.
      "--build-arg",
      "DENO_IMAGE=127.0.0.1:1/swft-unpullable/deno:2.9.6",
      "--build-arg",
      `RUNTIME_IMAGE=${STANDIN_IMAGES.runtime}`,
    ], { cwd: ROOT });
    assert.equal(code, 1, stdout);
    const lines = stdout.trim().split("\n");
    const first = lines.find((l) => l.startsWith("first failure: "));
    // The engine's own words, whole: the legacy builder's "Get ...: connection refused" or
    // BuildKit's "failed to resolve source metadata for 127.0.0.1:1/...".
    assert.match(first ?? "", /^first failure: build-builder: build failed: .*127\.0\.0\.1:1/);
    assert.match(first!, /connection refused|failed to resolve source metadata/);
    assert.equal(lines.filter((l) => l.includes(STANDIN_COMMAND)).length, 1, stdout);
    assert.match(lines[lines.length - 1], /^NOT VERIFIED: 2 passed, 2 failed, \d+ skipped/);
  },
);
