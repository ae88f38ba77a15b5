/**
 * Prunes deno.lock to the npm packages the server's import map needs, for the image.
 *
 * deno.lock also holds the tooling's npm packages (tasks/_lib/deps.ts pins them inline, so
 * they are not in deno.json's imports), and `deno install --frozen` installs every npm package
 * of the lock, even with `--entrypoint`: measured on Deno 2.9.6, the image's
 * /deno-dir/npm held tar-stream, dockerfile-ast, @balena/dockerignore and their 14
 * dependencies next to hono, eta and zod. The Dockerfile's deps stage runs this first, so its
 * npm layer holds the import map's packages and their dependencies only.
 *
 * Run in the image: `deno run --no-lock --allow-read=deno.lock --allow-write=deno.lock image_lock.ts`.
 * It imports nothing, so it needs nothing but itself and deno.lock.
 *
 * @module
 */

/** The parts of a version 5 deno.lock this reads. */
export interface DenoLock {
  /** Lock format version (only "5" is understood). */
  version: string;
  /** Specifier (`npm:hono@^4`) to resolved version. */
  specifiers?: Record<string, string>;
  /** Package id (`hono@4.13.19`) to integrity and dependencies. */
  npm?: Record<string, { dependencies?: string[]; [key: string]: unknown }>;
  /** The config file's own dependencies (its import map). */
  workspace?: { dependencies?: string[] };
  /** The rest of the lock, kept as it is. */
  [key: string]: unknown;
}

function packageName(specifier: string): string {
  const rest = specifier.replace(/^npm:/, "");
  const at = rest.indexOf("@", rest.startsWith("@") ? 1 : 0);
  return at < 0 ? rest : rest.slice(0, at);
}

/**
 * The lock with only the workspace's npm dependencies and what they depend on.
 *
 * @example
 * ```ts
 * const pruned = pruneLock(JSON.parse(Deno.readTextFileSync("deno.lock")));
 * ```
 */
export function pruneLock(lock: DenoLock): DenoLock {
  if (lock.version !== "5") throw new Error(`Cannot prune deno.lock version ${lock.version}`);
  const npm = lock.npm ?? {};
  const roots = (lock.workspace?.dependencies ?? []).filter((s) => s.startsWith("npm:"));
  const keep = new Set<string>();
  const visit = (id: string) => {
    const ids = id in npm ? [id] : Object.keys(npm).filter((key) => key.startsWith(`${id}@`));
    for (const key of ids) {
      if (keep.has(key)) continue;
      keep.add(key);
      for (const dependency of npm[key].dependencies ?? []) visit(dependency);
    }
  };
  for (const root of roots) {
    const version = lock.specifiers?.[root];
    if (version) visit(`${packageName(root)}@${version}`);
  }
  return {
    ...lock,
    specifiers: Object.fromEntries(
      Object.entries(lock.specifiers ?? {}).filter(([s]) =>
        !s.startsWith("npm:") || roots.includes(s)
      ),
    ),
    npm: Object.fromEntries(Object.entries(npm).filter(([id]) => keep.has(id))),
  };
}

if (import.meta.main) {
  const lock = JSON.parse(Deno.readTextFileSync("deno.lock"));
  Deno.writeTextFileSync("deno.lock", JSON.stringify(pruneLock(lock), null, 2) + "\n");
}
