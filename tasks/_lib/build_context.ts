/**
 * The build context as Docker sends it: its files after `.dockerignore`, copied into another
 * folder, optionally with every time set to one epoch (the reproducible build's context).
 *
 * @module
 */
import { type DockerIgnore, parseDockerIgnore } from "./dockerignore.ts";

/** Files of the context that Docker would send, relative and `/`-separated. */
export async function listContext(root: string, ignore?: DockerIgnore): Promise<string[]> {
  const out: string[] = [];
  const mayReinclude = ignore?.patterns.some((p) => p.startsWith("!")) ?? false;
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir === "" ? root : `${root}/${dir}`)) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      const excluded = ignore?.excludes(rel) ?? false;
      if (entry.isDirectory) {
        if (!excluded || mayReinclude) await walk(rel);
      } else if (!excluded || rel === ".dockerignore") {
        out.push(rel);
      }
    }
  }
  await walk("");
  return out.sort();
}

/**
 * Copies the listed context files (symlinks as symlinks) into `target`. With `mtime` (seconds
 * since 1970), every copied file and folder gets that modification time: BuildKit's COPY keeps
 * file times and `rewrite-timestamp` only clamps later ones, so a reproducible build must not
 * see the times of a checkout or an edit.
 */
export async function copyContext(
  root: string,
  target: string,
  files: string[],
  mtime?: number,
): Promise<void> {
  const folders = new Set<string>([target]);
  for (const rel of files) {
    const from = `${root}/${rel}`;
    const to = `${target}/${rel}`;
    const folder = to.slice(0, to.lastIndexOf("/"));
    await Deno.mkdir(folder, { recursive: true });
    for (let at = folder; at.length > target.length; at = at.slice(0, at.lastIndexOf("/"))) {
      folders.add(at);
    }
    const info = await Deno.lstat(from);
    if (info.isSymlink) await Deno.symlink(await Deno.readLink(from), to);
    else {
      await Deno.copyFile(from, to);
      if (mtime !== undefined) await Deno.utime(to, mtime, mtime);
    }
  }
  // folders last: a file written into a folder changes the folder's time
  if (mtime !== undefined) { for (const folder of folders) await Deno.utime(folder, mtime, mtime); }
}

/**
 * The build context as a reproducible build must see it: the files Docker would send (after
 * `.dockerignore`) copied into `dir`, every time set to `epoch`. Returns `dir`.
 */
export async function epochContext(root: string, dir: string, epoch: number): Promise<string> {
  const ignoreText = await Deno.readTextFile(`${root}/.dockerignore`).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  const ignore = ignoreText === undefined ? undefined : parseDockerIgnore(ignoreText);
  await copyContext(root, dir, await listContext(root, ignore), epoch);
  return dir;
}
