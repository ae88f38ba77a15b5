/**
 * The server's permissions, written once: `deno task generate` copies them into the start
 * task, the image's ENTRYPOINT and HEALTHCHECK and the policy's ceiling.
 *
 * @example
 * ```ts
 * import { permissionFlags } from "./permissions.ts";
 * permissionFlags("/app")[1]; // "--allow-read=/app/templates,/app/static,/sys/fs/cgroup/..."
 * ```
 *
 * @module
 */
import { CGROUP_V1_MEMORY_LIMIT_FILE, CONFIG_VARIABLES, MEMORY_LIMIT_PERMISSION } from "./mod.ts";

/** What the server may reach, by permission kind, in the order the flags are written. */
export interface Permissions {
  /** Addresses it listens on, and the healthcheck probes. */
  readonly net: readonly string[];
  /** Folders it reads (templates, static files) and the cgroup v1 memory limit file. */
  readonly read: readonly string[];
  /** System calls: the memory limit ({@linkcode MEMORY_LIMIT_PERMISSION}). */
  readonly sys: readonly string[];
  /** The variables it reads: the schema's ({@linkcode CONFIG_VARIABLES}). */
  readonly env: readonly string[];
}

/** The addresses HOST may name by default, as the policy's ceiling admits them. */
const LISTEN_ADDRESSES = ["0.0.0.0", "127.0.0.1", "localhost", "[::]", "[::1]"];

/** The app's folders the server reads, relative to the app's root. */
const APP_FOLDERS = ["templates", "static"];

/**
 * The server's permissions when the app lives in `appRoot` (`.` for the start task, `/app` in
 * the image).
 *
 * @example
 * ```ts
 * serverPermissions(".").read; // ["./templates", "./static", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
 * ```
 */
export function serverPermissions(appRoot: string): Permissions {
  return {
    net: LISTEN_ADDRESSES,
    // The cgroup v1 mount's own limit file: the memory limit where /proc/self/cgroup's path is
    // not visible (docs/operations.md), by absolute path in the start task and the image alike.
    read: [...APP_FOLDERS.map((folder) => `${appRoot}/${folder}`), CGROUP_V1_MEMORY_LIMIT_FILE],
    sys: [MEMORY_LIMIT_PERMISSION.slice(MEMORY_LIMIT_PERMISSION.indexOf("=") + 1)],
    env: CONFIG_VARIABLES,
  };
}

/**
 * The server's permissions as deno flags, one `--allow-KIND=A,B` per kind.
 *
 * @example
 * ```ts
 * permissionFlags(".")[2]; // "--allow-sys=systemMemoryInfo"
 * ```
 */
export function permissionFlags(appRoot: string): string[] {
  return permissionEntries(appRoot).map(([kind, values]) => `--allow-${kind}=${values.join(",")}`);
}

/**
 * The server's permissions as `[kind, values]` pairs, in flag order.
 *
 * @example
 * ```ts
 * permissionEntries(".")[0]; // ["net", ["0.0.0.0", "127.0.0.1", "localhost", "[::]", "[::1]"]]
 * ```
 */
export function permissionEntries(appRoot: string): [string, readonly string[]][] {
  return Object.entries(serverPermissions(appRoot));
}
