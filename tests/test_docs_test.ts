/**
 * `deno task test:docs`' own logic, without running the docs: which blocks it finds, the
 * markers it reads, what the docs must not do, and that a failing block names the file, the
 * line and the command. The docs themselves run in CI (`deno task test:docs`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { documentedFiles, ROOT, shellBlocks } from "../tasks/_lib/mod.ts";
import { runBlock } from "../tasks/test_docs.ts";

const DOC = [
  "# A page", //                                  1
  "", //                                          2
  "```sh", //                                     3
  "echo one", //                                  4
  "```", //                                       5
  "", //                                          6
  "<!-- test:docs skip: needs a registry -->", // 7
  "```sh", //                                     8
  "docker push x", //                             9
  "```", //                                      10
  "```console", //                               11
  "$ echo output", //                            12
  "```", //                                      13
  "```text", //                                  14
  "```", //                                      15
].join("\n");

Deno.test("test:docs finds every sh block with its line, and a marker's reason", () => {
  assert.deepEqual(shellBlocks(DOC, "x.md"), [
    { file: "x.md", line: 3, code: "echo one\n", skip: undefined },
    { file: "x.md", line: 8, code: "docker push x\n", skip: "needs a registry" },
  ]);
});

Deno.test("test:docs refuses what a doc must not do, naming the file and line", () => {
  const cases: [string, RegExp][] = [
    ["```sh\n$ deno task check\n```\n", /x\.md:2: a prompt inside a sh block: .*console/],
    ["```bash\necho\n```\n", /x\.md:1: write the block as ```sh/],
    ["<!-- test:docs skip: why -->\n```text\n```\n", /x\.md:1: .*right above a sh block/],
    ["<!-- test:docs skip: why -->\n\nsome prose\n", /x\.md:1: .*right above a sh block/],
    ["<!-- test:docs skip: -->\n```sh\necho\n```\n", /x\.md:1: a test:docs marker needs a reason/],
  ];
  for (const [doc, message] of cases) assert.throws(() => shellBlocks(doc, "x.md"), message);
  // the rules, each removed, let the doc through: a console block may hold prompts
  assert.equal(shellBlocks("```console\n$ x\n```\n", "x.md").length, 0);
});

Deno.test("test:docs: a failing block names the file, the document's line and the command", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const block = {
      file: "docs/x.md",
      line: 40,
      code: "echo fine\nfalse --flag-renamed\necho no\n",
    };
    const failure = await runBlock(block, dir, { PATH: Deno.env.get("PATH") ?? "" });
    // the fence is line 40: "echo fine" is 41, the failing command 42; nothing after it ran
    assert.match(failure, /^docs\/x\.md:42: false --flag-renamed \(exit 1\)/);
    assert.match(failure, /\n {2}\| fine$/);
    const inner = { file: "d.md", line: 1, code: 'ref=$(missing-tool-xyz --x)\necho "$ref"\n' };
    assert.match(
      await runBlock(inner, dir, { PATH: "/usr/bin:/bin" }),
      /^d\.md:2: missing-tool-xyz/,
    );
    assert.equal(await runBlock({ file: "d.md", line: 1, code: "true\n" }, dir, {}), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test:docs: a background process a block starts ends with the block", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const code = `sleep 300 &\necho $! >"${dir}/pid"\n`;
    assert.equal(
      await runBlock({ file: "d.md", line: 1, code }, dir, { PATH: "/usr/bin:/bin" }),
      "",
    );
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // gone, or a zombie waiting for init to reap it: either way no longer running
    const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
      (t) => t.split(" ")[2],
      () => "gone",
    );
    assert.ok(["gone", "Z"].includes(state), `the block's sleep was stopped (state ${state})`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the docs' shell blocks parse: markers beside blocks, no prompts, all sh", () => {
  const blocks = documentedFiles(ROOT).flatMap((file) =>
    shellBlocks(Deno.readTextFileSync(`${ROOT}/${file}`), file)
  );
  assert.ok(blocks.some((block) => !block.skip), "at least one block runs");
  for (const block of blocks.filter((b) => b.skip)) assert.ok(block.skip!.length > 10, block.file);
});

Deno.test("deno task test's summary: the groups that ran, and each ignore reason with its files", async () => {
  const { summaryLines, tallyTests } = await import("../tasks/test_summary.ts");
  const output = [
    "running 2 tests from ./tests/a_test.ts",
    "a one ... ok (1ms)",
    "a two (ignored: cosign not found; deno task release:tools installs it) ... ignored (0ms)",
    "running 1 test from ./tests/b_test.ts",
    "b slow ... ignored (0ms)",
    "running 1 test from ./tests/c_test.ts",
    // past a minute, deno warns on the test's line and writes the result on the next one
    "c long ...'c long' has been running for over (1m0s)",
    " ok (1m3s)",
    "",
    "ok | 2 passed | 0 failed | 2 ignored (1s)",
  ];
  const tally = tallyTests(output);
  assert.equal(tally.closing, "ok | 2 passed | 0 failed | 2 ignored (1s)");
  assert.deepEqual(summaryLines(tally), [
    "test summary: 2 of 3 groups (files) ran: 2 passed, 0 failed, 2 ignored",
    "  groups that ran no test: tests/b_test.ts",
    "  1 ignored: cosign not found; deno task release:tools installs it: tests/a_test.ts (1)",
    "  1 ignored: no reason in its name: tests/b_test.ts (1)",
  ]);
});
