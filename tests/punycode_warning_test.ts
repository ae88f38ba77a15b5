/**
 * `deno task test` prints no "The `punycode` module is deprecated" warning (DEP0040). It came
 * from the Kubernetes schema validators tests/_kubernetes.ts loads; the control proves the
 * warning is still real upstream, so the filter there is still needed (when the control
 * fails, a release fixed it: drop `withoutPunycodeWarning`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, runDeno } from "../tasks/_lib/mod.ts";

/** stderr of loading `specifier` in a fresh process from the project (its lockfile). */
async function stderrOfLoading(specifier: string): Promise<string> {
  const { code, stderr } = await runDeno(
    [
      "eval",
      `await import(${JSON.stringify(specifier)}); await new Promise((r) => setTimeout(r, 50));`,
    ],
    { cwd: ROOT },
  );
  assert.equal(code, 0, stderr);
  return stderr;
}

Deno.test("loading the Kubernetes test helpers prints no punycode deprecation warning", async () => {
  const stderr = await stderrOfLoading("./tests/_kubernetes.ts");
  assert.doesNotMatch(stderr, /punycode|DEP0040/);
});

Deno.test("control: the validators loaded directly still warn about punycode (DEP0040)", async () => {
  const stderr = await stderrOfLoading("npm:@kubernetes-models/validate@5.0.2");
  assert.match(stderr, /DEP0040/);
});
