/**
 * What the docs' examples leave in a work tree: every report, SBOM or bundle a documented
 * command writes (`--json FILE`, `--sbom FILE`, `--save DIR`) is ignored by git, so following
 * the docs never leaves a file for `git add .` to pick up.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, run } from "../tasks/_lib/mod.ts";

/** The documents whose commands a user copies. */
const DOCUMENTS = ["README.md", ".ci/run", ...docs()];

function docs(): string[] {
  return [...Deno.readDirSync(`${ROOT}/docs`)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`);
}

/** Relative paths written by the documented commands (placeholders such as FILE left out). */
function writtenFiles(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/--(?:json|sbom|save)[ =]([^\s`|),]+)/g)) {
    const path = match[1];
    // FILE, PATH, DIR, "..." and absolute paths (/tmp/...) are not files in the work tree.
    if (/^[A-Z_]+$/.test(path) || path.includes("...") || path.startsWith("/")) continue;
    if (/^"?\$/.test(path)) continue; // a shell variable: its value is not in the docs
    found.add(path);
  }
  return [...found];
}

Deno.test("writtenFiles reads the files of --json, --sbom and --save, not placeholders", () => {
  const text = "deno task release --json release.json --sbom sbom.cdx.json --save out\n" +
    "--json FILE, --sbom FILE   keep them\n--json ... --key /tmp/k.key --json /tmp/r.json\n" +
    "`--json=verify-report.json`";
  assert.deepEqual(writtenFiles(text), [
    "release.json",
    "sbom.cdx.json",
    "out",
    "verify-report.json",
  ]);
});

Deno.test("every file the docs' commands write into the work tree is ignored by git", async () => {
  const files = new Set<string>();
  for (const document of DOCUMENTS) {
    for (const file of writtenFiles(await Deno.readTextFile(`${ROOT}/${document}`))) {
      files.add(file);
    }
  }
  // The docs show reports of verify and release at least: an empty list would prove nothing.
  assert.ok(files.has("release.json") && files.has("verify-report.json"), [...files].join(", "));
  const notIgnored: string[] = [];
  for (const file of files) {
    // --no-index: the rule decides, whether or not such a file was ever committed.
    const { code } = await run("git", ["check-ignore", "-q", "--no-index", file], { cwd: ROOT });
    if (code !== 0) notIgnored.push(file);
  }
  assert.deepEqual(notIgnored, [], "add these to .gitignore");
});
