/**
 * A copy of the project as git would check it out (tracked files plus new ones not ignored),
 * for tests that run a task or a build where the developer's own `.env`, reports or caches
 * must neither help nor break them; and a clean environment for the tasks they run.
 *
 * @module
 */
import { ROOT, run } from "../tasks/_lib/mod.ts";

/**
 * Copies the project into a new temporary folder named with `prefix`; the caller removes it.
 *
 * @example
 * ```ts
 * const dir = await copyProject("swft-dev-test-");
 * await Deno.writeTextFile(`${dir}/.env`, "PORT=0\n");
 * ```
 */
export async function copyProject(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  const files = await run("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
  });
  if (files.code !== 0) throw new Error(`Cannot list the project's files: ${files.stderr.trim()}`);
  for (const file of files.stdout.split("\n").filter(Boolean)) {
    await Deno.mkdir(`${dir}/${file}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(`${ROOT}/${file}`, `${dir}/${file}`).catch(() => {}); // deleted, not staged
  }
  return dir;
}

/**
 * The variables deno itself needs plus `extra`, and nothing a developer's shell (or an outer
 * `deno task`, which sets INIT_CWD) may add, such as PORT: for `clearEnv` children.
 */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1", ...extra };
  for (
    const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "DOCKER_HOST", "DOCKER_CONFIG"]
  ) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
