/**
 * `deno task test:docs`: runs every ```sh block of README.md and docs/*.md as written, in a
 * scratch clone of the committed tree (with the work tree's uncommitted changes to tracked
 * files committed on top there), one `bash` per block, stopping at the block's first failing
 * command. The offline substitutions the docs tell a reader to make come as the environment
 * they document: the stand-in bases and the runtime-deno target for Compose (`DENO_IMAGE`,
 * `RUNTIME_IMAGE`, `SWFT_TARGET`), a free host port (`SWFT_HOST_PORT`), an image and project
 * name of this run's own (`SWFT_IMAGE`, `COMPOSE_PROJECT_NAME`). A block that cannot run here
 * carries a marker with the reason (tasks/_lib/doc_blocks.ts); they are listed, not run.
 *
 * Usage: deno task test:docs [--only FILE[:LINE]] [--list]
 * Exit 0 only when every block that is not marked ran and exited 0.
 *
 * @module
 */
import {
  blockFailure,
  blockScript,
  CleanupStack,
  type DocBlock,
  docker,
  documentedFiles,
  formatMs,
  freePort,
  lastLines,
  parseFlags,
  ROOT,
  run,
  runOk,
  runTask,
  shellBlocks,
  STANDIN_IMAGES,
  tempDir,
  withoutFailureLines,
} from "./_lib/mod.ts";

const TOOL = "test:docs";
/** A block that runs longer is stopped: a release with verify takes a few minutes here. */
const BLOCK_TIMEOUT_MS = 15 * 60_000;

/**
 * The environment the docs document for an offline run (README's Compose table), and a home
 * of the run's own (keys the docs make under ~ start afresh) that keeps Deno's cache.
 */
async function documentedEnv(prefix: string, home: string): Promise<Record<string, string>> {
  const { stdout } = await run(Deno.execPath(), ["info", "--json"]);
  const denoDir = JSON.parse(stdout || "{}").denoDir as string | undefined;
  return {
    HOME: home,
    ...(denoDir ? { DENO_DIR: denoDir } : {}),
    SWFT_TARGET: "runtime-deno",
    DENO_IMAGE: STANDIN_IMAGES.deno,
    RUNTIME_IMAGE: STANDIN_IMAGES.runtime,
    SWFT_HOST_PORT: String(freePort()),
    SWFT_IMAGE: `${prefix}-docs:latest`,
    COMPOSE_PROJECT_NAME: `${prefix}-docs`,
    NO_COLOR: "1",
  };
}

/** A clone of HEAD with the work tree's changes to tracked files committed on top. */
async function scratchClone(cleanup: CleanupStack): Promise<string> {
  const dir = `${await tempDir(cleanup, "swft-docs-")}/swft`;
  await runOk("git", ["clone", "--quiet", "--no-hardlinks", ROOT, dir]);
  const changed = (await runOk("git", ["diff", "--name-only", "HEAD"], { cwd: ROOT }))
    .split("\n").filter(Boolean);
  if (changed.length === 0) return dir;
  for (const file of changed) {
    await Deno.remove(`${dir}/${file}`).catch(() => {});
    await Deno.copyFile(`${ROOT}/${file}`, `${dir}/${file}`).catch(() => {}); // deleted: stays so
  }
  const identity = ["-c", "user.name=test:docs", "-c", "user.email=test-docs@localhost"];
  await runOk("git", [...identity, "commit", "--quiet", "-am", "test:docs: the work tree"], {
    cwd: dir,
  });
  return dir;
}

/** Image tags that exist now. */
async function imageTags(): Promise<Set<string>> {
  const { stdout } = await docker(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
  return new Set(stdout.split("\n").filter(Boolean));
}

/** The tags the blocks created (new since `before`, and named in a block): removed after. */
async function removeDocTags(before: Set<string>, blocks: DocBlock[]): Promise<void> {
  const text = blocks.map((block) => block.code).join("\n");
  for (const tag of await imageTags()) {
    if (before.has(tag)) continue;
    if (text.includes(tag) || (tag.endsWith(":latest") && text.includes(tag.slice(0, -7)))) {
      await docker(["image", "rm", tag]);
    }
  }
}

/** Runs one block; returns an empty string when it passed, else the failure in a few lines. */
async function runBlock(
  block: DocBlock,
  cwd: string,
  env: Record<string, string>,
): Promise<string> {
  // setsid: the block's background processes (a registry) share its process group, ended after.
  const child = new Deno.Command("setsid", {
    args: ["bash", "--noprofile", "--norc", "-c", blockScript(block)],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => killGroup(child.pid, "KILL"), BLOCK_TIMEOUT_MS);
  const [out, errText] = [new Response(child.stdout).text(), new Response(child.stderr).text()];
  // The block's end is bash's exit: what it left in the background (holding the pipes) goes.
  const { code } = await child.status.finally(() => clearTimeout(timer));
  await killGroup(child.pid, "TERM");
  const [stdout, err] = await Promise.all([out, errText]);
  if (code === 0) return "";
  const failure = blockFailure(err);
  const where = failure
    ? `${block.file}:${failure.line}: ${failure.command} (exit ${failure.code})`
    : `${block.file}:${block.line}: the block (exit ${code})`;
  // The block's last lines, as it printed them (stdout, then stderr), each on its own line.
  const output = lastLines(`${stdout}\n${withoutFailureLines(err)}`, 15).split(" | ");
  return [where, ...output.map((line) => `  | ${line}`)].join("\n");
}

/** Ends the block's process group (what it left in the background); `kill`, as Deno.kill needs --allow-run whole. */
async function killGroup(pid: number, signal: string): Promise<void> {
  await run("kill", [`-${signal}`, "--", `-${pid}`]); // fails only when the group has ended
}

/** Every block of the documents, filtered by `--only FILE[:LINE]`. */
function selectedBlocks(only: string | undefined): DocBlock[] {
  const blocks = documentedFiles(ROOT).flatMap((file) =>
    shellBlocks(Deno.readTextFileSync(`${ROOT}/${file}`), file)
  );
  if (!only) return blocks;
  const [file, line] = only.split(":");
  return blocks.filter((block) => block.file === file && (!line || block.line === Number(line)));
}

async function main(args: string[]): Promise<number> {
  const { values: flags } = parseFlags(args, {
    only: { type: "string" },
    list: { type: "boolean", default: false },
  });
  if (flags.help) {
    console.log("Usage: deno task test:docs [--only FILE[:LINE]] [--list]");
    return 0;
  }
  const blocks = selectedBlocks(flags.only);
  if (flags.list) {
    for (const b of blocks) {
      console.log(`${b.file}:${b.line} ${b.skip ? `skip: ${b.skip}` : "run"}`);
    }
    return 0;
  }
  await using cleanup = new CleanupStack();
  const prefix = Deno.env.get("SWFT_TEST_NAME_PREFIX") || "swft-docs";
  const home = await tempDir(cleanup, "swft-docs-home-");
  const env = { ...Deno.env.toObject(), ...await documentedEnv(prefix, home) };
  const before = await imageTags();
  cleanup.defer(() => removeDocTags(before, blocks));
  // What the Compose blocks leave up (the offline one is meant to stay up), both versions' way.
  cleanup.defer(() =>
    docker(["compose", "-p", env.COMPOSE_PROJECT_NAME, "down", "--rmi", "all", "--volumes"]).then(
      () => {},
    )
  );
  // One clone per document, as a reader follows one page from a fresh checkout: what one page
  // leaves in the tree (an overlay, a report) does not dirty another page's release.
  const clones = new Map<string, string>();
  for (const file of new Set(blocks.filter((b) => !b.skip).map((b) => b.file))) {
    clones.set(file, await scratchClone(cleanup));
  }
  const failures: string[] = [];
  let ran = 0;
  for (const block of blocks) {
    if (block.skip) {
      console.log(`${TOOL}: ${block.file}:${block.line} not run: ${block.skip}`);
      continue;
    }
    const started = performance.now();
    const failure = await runBlock(block, clones.get(block.file)!, env);
    const took = formatMs(performance.now() - started);
    ran++;
    if (failure) failures.push(failure);
    console.log(`${TOOL}: ${block.file}:${block.line} ${failure ? "FAILED" : "ran"} (${took})`);
    if (failure) console.error(`${TOOL}: failed at ${failure}`);
  }
  const skipped = blocks.length - ran;
  console.log(
    `${TOOL}: ${ran - failures.length} of ${ran} blocks passed, ${skipped} not run (marked)`,
  );
  return failures.length ? 1 : 0;
}

if (import.meta.main) await runTask(TOOL, main);

/** Exported for tests: the runner of one block. */
export { runBlock };
