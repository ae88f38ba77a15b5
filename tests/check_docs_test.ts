/**
 * `deno task check:docs` holds on the project and fails, naming the fact, when README.md loses
 * one: each test below removes one fact (or changes the file it describes) and expects exactly
 * that problem.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, runDeno } from "../tasks/_lib/mod.ts";
import {
  composeOwnVariables,
  docsProblems,
  type DocsSources,
  readSources,
} from "../tasks/check_docs.ts";

const SOURCES = readSources();

function problemsWith(change: Partial<DocsSources>): string[] {
  return docsProblems({ ...SOURCES, ...change });
}

Deno.test("check:docs passes on the project, as deno task check runs it", async () => {
  assert.deepEqual(docsProblems(SOURCES), []);
  const { code, stderr } = await runDeno(["task", "-q", "check:docs"], { cwd: ROOT });
  assert.equal(code, 0, stderr);
});

Deno.test("composeOwnVariables: what compose.yaml reads for itself, not the app's pass-through", () => {
  assert.deepEqual(composeOwnVariables(SOURCES.compose).sort(), [
    "DENO_IMAGE",
    "RUNTIME_IMAGE",
    "SWFT_HOST_PORT",
    "SWFT_IMAGE",
    "SWFT_TARGET",
  ]);
});

Deno.test("check:docs: the Compose section must explain each of compose.yaml's own variables", () => {
  const readme = SOURCES.readme.replaceAll("`SWFT_HOST_PORT`", "the port variable");
  assert.deepEqual(problemsWith({ readme }), [
    "README.md's Compose section does not say what SWFT_HOST_PORT is (compose.yaml reads it)",
  ]);
  // A new variable in compose.yaml needs its line in the README too.
  const compose = SOURCES.compose.replace(
    "restart: unless-stopped",
    "restart: ${SWFT_RESTART:-no}",
  );
  assert.deepEqual(problemsWith({ compose }), [
    "README.md's Compose section does not say what SWFT_RESTART is (compose.yaml reads it)",
  ]);
});

Deno.test("check:docs: the Compose section must say how long healthy takes, from compose.yaml", () => {
  const compose = SOURCES.compose.replace(/interval: 30s/, "interval: 10s");
  assert.notEqual(compose, SOURCES.compose);
  assert.deepEqual(problemsWith({ compose }), [
    "README.md's Compose section does not say that `healthy` takes about 10 s (compose.yaml's " +
    "healthcheck interval)",
  ]);
});

Deno.test("check:docs: the README says which .env draws its picture, and .env.example is it", () => {
  const envExample = SOURCES.envExample.replace(/^BACKGROUND_COLOR=.*$/m, "BACKGROUND_COLOR=white");
  assert.deepEqual(problemsWith({ envExample }), [
    ".env.example sets BACKGROUND_COLOR=white, but the README's picture (deno task screenshot) " +
    "is BACKGROUND_COLOR=steelblue",
  ]);
  const readme = SOURCES.readme.replace(/^The page as `cp \.env\.example \.env` draws it.*$/m, "");
  assert.match(problemsWith({ readme }).join("\n"), /^README\.md does not say under its picture/);
});

Deno.test("check:docs: the Start section says how to write .env values for every runner", () => {
  const readme = SOURCES.readme.replaceAll("unquoted", "plain");
  assert.match(problemsWith({ readme }).join("\n"), /^README\.md's Start section does not say how/);
});
