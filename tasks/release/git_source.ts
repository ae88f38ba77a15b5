/**
 * What git can hide from `git status` that still reaches the build: a tracked file marked
 * skip-worktree or assume-unchanged (edited, git reports it clean), and a file git ignores
 * that `.dockerignore` lets into the build context. The release refuses each (naming the first
 * path) unless `--allow-dirty`; the two air-gapped build inputs the Dockerfile reads on
 * purpose (`denort`, `build-ca.pem`) are recorded by digest instead. Also: URLs without
 * credentials, for everything the provenance records.
 *
 * @module
 */
import { run } from "../_lib/mod.ts";
import { parseDockerIgnore } from "../_lib/dockerignore.ts";

/**
 * Files git ignores that the Dockerfile reads when they are in the context (air-gapped
 * builds, a TLS-intercepting proxy's CA): recorded in the provenance, not refused.
 */
export const BUILD_INPUTS: readonly string[] = ["denort", "build-ca.pem"];

/** One path whose content reaches the build while `git status` says nothing of it. */
export interface HiddenChange {
  /** The path, relative to the work tree. */
  path: string;
  /** How git hides it. */
  how: "skip-worktree" | "assume-unchanged" | "ignored";
}

/** The rule a hidden change is refused under. */
export const HIDDEN_RULE = "rule source-clean";

/**
 * `url` without what must never be recorded: user and password (a token in
 * `https://x-access-token:ghs_...@host/`), query and fragment; `user@host:path` (scp form)
 * loses its user. Anything else is returned as it is.
 *
 * @example
 * ```ts
 * redactUrl("https://x-access-token:ghs_1@github.com/o/r.git"); // "https://github.com/o/r.git"
 * ```
 */
export function redactUrl(url: string): string {
  const scp = /^[^/@:]+@([^/:]+:(?!\/\/).*)$/.exec(url);
  if (scp) return scp[1];
  try {
    const parsed = new URL(url);
    if (!parsed.host) return url;
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//");
  }
}

/**
 * The URL to record for a remote: {@linkcode redactUrl}'s, or `undefined` for a remote that
 * is a folder on this machine (`/work/main`, `../x`, `file://...`), which no one else can
 * fetch, so it names nothing.
 *
 * @example
 * ```ts
 * recordedRemote("/work/main"); // undefined
 * ```
 */
export function recordedRemote(url: string): string | undefined {
  if (/^(\/|\.|~|file:)/.test(url) || !/[:@]/.test(url)) return undefined;
  return redactUrl(url);
}

/**
 * The tracked paths git hides edits to (`git ls-files -v`: `S` skip-worktree, a lower-case
 * tag assume-unchanged) and the ignored paths the build context keeps (`.dockerignore` does
 * not exclude them), in git's order; {@linkcode BUILD_INPUTS} are not listed.
 */
export async function hiddenChanges(dir: string): Promise<HiddenChange[]> {
  const hidden: HiddenChange[] = [];
  const tagged = await gitPaths(dir, ["ls-files", "-v", "-z"]);
  for (const entry of tagged) {
    const [tag, path] = [entry.slice(0, 1), entry.slice(2)];
    if (tag === "S" || tag === "s") hidden.push({ path, how: "skip-worktree" });
    else if (tag !== tag.toUpperCase()) hidden.push({ path, how: "assume-unchanged" });
  }
  const ignored = await gitPaths(dir, [
    "ls-files",
    "--others",
    "--ignored",
    "--exclude-standard",
    "-z",
  ]);
  const context = await dockerIgnoreOf(dir);
  for (const path of ignored) {
    if (!BUILD_INPUTS.includes(path) && !context.excludes(path)) {
      hidden.push({ path, how: "ignored" });
    }
  }
  return hidden;
}

/**
 * The paths `git status` lists, untracked ones included whatever status.showUntrackedFiles
 * says (a rename or copy once, by its new path); throws one line where git fails.
 */
export async function changedPaths(dir: string): Promise<string[]> {
  const entries = await gitPaths(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all"]);
  const paths: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    paths.push(entries[i].slice(3));
    if (/^[RC]/.test(entries[i])) i++; // the rename's or copy's source path follows
  }
  return paths;
}

/** A `git ... -z` listing, untrimmed (a path may end in a space). */
async function gitPaths(dir: string, args: string[]): Promise<string[]> {
  const result = await run("git", args, { cwd: dir });
  if (result.code !== 0) {
    throw new Error(`Cannot run git ${args[0]} in ${dir}: ${result.stderr.trim().split("\n")[0]}`);
  }
  return result.stdout.split("\0").filter(Boolean);
}

async function dockerIgnoreOf(dir: string) {
  const text = await Deno.readTextFile(`${dir}/.dockerignore`).catch(() => "");
  return parseDockerIgnore(text);
}

/** The one-line refusal for hidden changes, naming the first path and the fix. */
export function hiddenRefusal(hidden: HiddenChange[]): string {
  const [first] = hidden;
  const fix = first.how === "ignored"
    ? "remove it or exclude it in .dockerignore"
    : `git update-index --no-${first.how} ${first.path}, then commit or revert it`;
  return `${HIDDEN_RULE}: ${first.path} is ${
    first.how === "ignored" ? "ignored by git but in the build context" : `marked ${first.how}`
  }, so git status hides its content${
    hidden.length > 1 ? ` (and ${hidden.length - 1} more)` : ""
  }; ${fix}, or pass --allow-dirty`;
}

/** The {@linkcode BUILD_INPUTS} present in the build context. */
export async function buildInputs(dir: string): Promise<string[]> {
  const context = await dockerIgnoreOf(dir);
  const present: string[] = [];
  for (const path of BUILD_INPUTS) {
    const stat = await Deno.stat(`${dir}/${path}`).catch(() => undefined);
    if (stat?.isFile && !context.excludes(path)) present.push(path);
  }
  return present;
}

/**
 * The first of `refs` (names `git for-each-ref` takes: `refs/remotes/origin/main`,
 * `refs/tags/`) whose history holds `commit`, in the consumer's clone `dir`; `undefined`
 * when none does (a fork's commit, a commit never pushed) or the clone lacks the commit.
 * The CUE policy sees only the attestation, so this check is the consumer's.
 */
export async function reachableFrom(
  dir: string,
  commit: string,
  refs: string[],
): Promise<string | undefined> {
  const listed = await run("git", ["for-each-ref", "--format=%(refname)", ...refs], { cwd: dir });
  if (listed.code !== 0) return undefined;
  for (const ref of listed.stdout.split("\n").filter(Boolean)) {
    const ancestor = await run("git", ["merge-base", "--is-ancestor", commit, ref], { cwd: dir });
    if (ancestor.code === 0) return ref;
  }
  return undefined;
}
