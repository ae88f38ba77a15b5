/**
 * What git can hide from `git status` that still reaches the build, and what must never be
 * recorded: each case made in a scratch clone of this repository, as a user would make it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, run, runOk } from "../tasks/_lib/mod.ts";
import {
  buildInputs,
  hiddenRefusal,
  reachableFrom,
  recordedRemote,
  redactUrl,
} from "../tasks/release/git_source.ts";
import {
  buildProvenance,
  type GitSource,
  gitSource,
  provenance,
  PROVENANCE_TYPE,
} from "../tasks/release/attestations/provenance.ts";
import { POLICY_FILE } from "../tasks/release/policy.ts";
import type { ReleaseRun } from "../tasks/release/run.ts";
import { withParams } from "./_policy.ts";
import { parseReleaseArgs } from "../tasks/release.ts";

/** A clone of this repository at HEAD in a temporary folder, removed after `fn`. */
async function inClone(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "swft-source-" });
  try {
    await runOk("git", ["clone", "--quiet", "--no-local", ROOT, dir]);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const git = (dir: string, ...args: string[]) => runOk("git", args, { cwd: dir });

/** A commit a fork would make on top of HEAD (same root commit, on no published ref). */
async function forkCommit(dir: string): Promise<string> {
  const author = ["-c", "user.name=fork", "-c", "user.email=fork@example.invalid"];
  await git(dir, ...author, "commit", "--allow-empty", "-qm", "fork");
  return git(dir, "rev-parse", "HEAD");
}

/** A clean source of this repository's history, for the predicates built here. */
const PUBLISHED: GitSource = {
  commit: "",
  rootCommit: "0".repeat(40),
  dirty: false,
  changedPaths: 0,
  changed: [],
  hidden: [],
};

/** The provenance the release writes for `source`, built here with `buildArgs`. */
const provenanceOf = (source: GitSource, buildArgs: string[] = []) =>
  buildProvenance({
    source,
    dockerfile: "Dockerfile",
    target: "runtime-deno",
    buildArgs,
    bases: [],
    lockSha256: "0".repeat(64),
    dockerVersion: "26.1.5",
    deno: "2.9.6",
    signer: "key",
    builtBy: "release",
    version: "1.0.0",
  });

Deno.test("source: an edit behind skip-worktree is dirty, though git status is clean", async () => {
  await inClone(async (dir) => {
    await git(dir, "update-index", "--skip-worktree", "main.ts");
    await Deno.writeTextFile(`${dir}/main.ts`, "// edited\n", { append: true });
    assert.equal(await git(dir, "status", "--porcelain"), "", "git status hides it");
    const source = await gitSource(dir);
    assert.equal(source.dirty, true);
    assert.deepEqual(source.hidden, [{ path: "main.ts", how: "skip-worktree" }]);
    assert.equal(
      hiddenRefusal(source.hidden),
      "rule source-clean: main.ts is marked skip-worktree, so git status hides its content; " +
        "git update-index --no-skip-worktree main.ts, then commit or revert it, or pass --allow-dirty",
    );
  });
});

Deno.test("source: assume-unchanged, and untracked files under status.showUntrackedFiles=no, are dirty", async () => {
  await inClone(async (dir) => {
    await git(dir, "update-index", "--assume-unchanged", "deno.json");
    const source = await gitSource(dir);
    assert.deepEqual(source.hidden, [{ path: "deno.json", how: "assume-unchanged" }]);
    await git(dir, "update-index", "--no-assume-unchanged", "deno.json");
    await git(dir, "config", "status.showUntrackedFiles", "no");
    await Deno.writeTextFile(`${dir}/routes/extra.ts`, "export {};\n");
    const untracked = await gitSource(dir);
    assert.deepEqual([untracked.dirty, untracked.changed], [true, ["routes/extra.ts"]]);
    await Deno.writeTextFile(`${dir}/config/edited.ts`, "");
    await Deno.remove(`${dir}/routes/extra.ts`);
    await Deno.writeTextFile(`${dir}/deno.json`, "\n", { append: true });
    const edited = await gitSource(dir);
    assert.deepEqual(edited.changed, ["deno.json", "config/edited.ts"], "named whole");
  });
});

Deno.test("source: a file git ignores but the build context keeps is dirty; denort is a recorded input", async () => {
  await inClone(async (dir) => {
    await Deno.writeTextFile(`${dir}/static/debug.log`, "in the image\n"); // *.log: ignored
    await Deno.writeTextFile(`${dir}/.env`, "SECRET=1\n"); // ignored, and out of the context
    await Deno.writeTextFile(`${dir}/denort`, "runtime\n"); // ignored, read by the Dockerfile
    assert.equal(await git(dir, "status", "--porcelain"), "");
    const source = await gitSource(dir);
    assert.deepEqual(source.hidden, [{ path: "static/debug.log", how: "ignored" }]);
    assert.match(
      hiddenRefusal(source.hidden),
      /^rule source-clean: static\/debug\.log is ignored by git but in the build context, .*; remove it or exclude it in \.dockerignore, or pass --allow-dirty$/,
    );
    assert.deepEqual(await buildInputs(dir), ["denort"]);
  });
});

Deno.test("source: a credentialed origin is recorded without its token", async () => {
  await inClone(async (dir) => {
    const token = "ghs_0123456789abcdefSECRET";
    await git(
      dir,
      "remote",
      "set-url",
      "origin",
      `https://x-access-token:${token}@github.com/acme/swft.git`,
    );
    const source = await gitSource(dir);
    assert.equal(source.repository, "https://github.com/acme/swft.git");
    const provenance = JSON.stringify(
      provenanceOf(source, [`SOURCE=https://user:${token}@github.com/acme/swft`]),
    );
    assert.ok(!provenance.includes(token), "no token anywhere in the provenance");
  });
  assert.equal(redactUrl("git@github.com:acme/swft.git"), "github.com:acme/swft.git");
  assert.equal(redactUrl("https://h/r.git?access_token=x#y"), "https://h/r.git");
  assert.equal(redactUrl("ssh://u:p@h:22/r.git"), "ssh://h:22/r.git");
  for (const folder of ["/work/main", "../swft", "file:///src/swft", "swft"]) {
    assert.equal(recordedRemote(folder), undefined, `${folder}: a folder names nothing`);
  }
  assert.equal(recordedRemote("https://t@h/r.git"), "https://h/r.git");
});

Deno.test("source: a clone without a remote records no URL, only its commits", async () => {
  await inClone(async (dir) => {
    await git(dir, "remote", "remove", "origin");
    const source = await gitSource(dir);
    const [dependency] = provenanceOf(source).buildDefinition.resolvedDependencies;
    assert.equal(dependency.uri, undefined, "no git+/path");
    assert.equal(dependency.annotations?.repository, null);
    assert.deepEqual(dependency.digest, { gitCommit: source.commit });
    assert.equal((await run("git", ["status", "--porcelain"], { cwd: dir })).stdout, "");
  });
});

Deno.test("source: a commit is reachable from a named ref only when the branch holds it", async () => {
  await inClone(async (dir) => {
    const head = await git(dir, "rev-parse", "HEAD");
    const branch = await git(dir, "rev-parse", "--abbrev-ref", "HEAD");
    const refs = [`refs/remotes/origin/${branch}`];
    assert.equal(await reachableFrom(dir, head, refs), `refs/remotes/origin/${branch}`);
    // A fork's commit: same root commit, never on the published branch.
    const fork = await forkCommit(dir);
    assert.equal(await reachableFrom(dir, fork, refs), undefined);
    assert.equal(await reachableFrom(dir, "0".repeat(40), refs), undefined, "unknown commit");
  });
});

Deno.test("source: --verify-only --source refuses an attested commit on none of the policy's refs", async () => {
  await inClone(async (dir) => {
    const head = await git(dir, "rev-parse", "HEAD");
    const fork = await forkCommit(dir);
    const statement = (commit: string) => ({
      predicateType: PROVENANCE_TYPE,
      subject: [],
      predicate: provenanceOf({ ...PUBLISHED, commit }),
    });
    // A policy whose published ref is the branch this clone was made from.
    const branch = await git(dir, "rev-parse", "--abbrev-ref", "HEAD");
    const policy = `${dir}/policy.cue`;
    await Deno.writeTextFile(
      policy,
      withParams(await Deno.readTextFile(POLICY_FILE), (params) => ({
        ...params,
        provenance: { ...params.provenance, sourceRefs: [`refs/remotes/origin/${branch}`] },
      })),
    );
    const r = { options: { source: dir, policy } } as unknown as ReleaseRun;
    await provenance.checkAttested!(r, [statement(head)]);
    await assert.rejects(
      () => provenance.checkAttested!(r, [statement(fork)]),
      new RegExp(
        `^Error: rule provenance-source-reachable: ${fork} is on none of refs/remotes/origin/${branch} in ${dir}; git fetch there, or deploy an image built from a published commit$`,
      ),
    );
  });
});

Deno.test("source: --source is the consumer's flag, with --verify-only --policy", () => {
  assert.throws(
    () => parseReleaseArgs(["--image", "127.0.0.1:5000/swft:1", "--key", "k", "--source", ROOT]),
    /^UsageError: --source DIR checks a published image's commit: use it with --verify-only --policy or --rebuild$/,
  );
  const args = ["--verify-only", "--image", "127.0.0.1:5000/swft:1", "--key", "k"];
  assert.throws(
    () => parseReleaseArgs([...args, "--policy", POLICY_FILE, "--source", `${ROOT}/static`]),
    /--source: .*\/static is not a git clone/,
  );
});
