/**
 * Where the release finds its tools: `$COSIGN` / `$CDXGEN`, else the release tools folder
 * that `deno task release:tools` installs into (when it holds them), else `cosign` / `cdxgen`
 * on PATH.
 *
 * @module
 */

/** The folder `deno task release:tools` installs into: `$SWFT_TOOLS_DIR`, else a user folder. */
export function toolsDir(): string {
  const dir = Deno.env.get("SWFT_TOOLS_DIR");
  if (dir) return dir;
  const data = Deno.env.get("XDG_DATA_HOME") || `${Deno.env.get("HOME") ?? "."}/.local/share`;
  return `${data}/swft-tools`;
}

/**
 * How to run `name`: the environment variable `variable` when set, else the tools folder's
 * copy when there is one, else `name` (found on PATH).
 *
 * @example
 * ```ts
 * toolCommand("cosign", "COSIGN"); // "/home/me/.local/share/swft-tools/bin/cosign" or "cosign"
 * ```
 */
export function toolCommand(name: string, variable: string): string {
  const given = Deno.env.get(variable);
  if (given) return given;
  const installed = `${toolsDir()}/bin/${name}`;
  try {
    if (Deno.statSync(installed).isFile) return installed;
  } catch {
    // not installed there
  }
  return name;
}
