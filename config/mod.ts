/**
 * The one place that reads the environment. Each variable is one entry of
 * {@linkcode VARIABLES}: its rule (a zod schema), its default and what it means. The
 * {@linkcode Config} type, {@linkcode parseConfig}, {@linkcode readEnv} and `main.ts --help`
 * derive from it, and `deno task generate` writes every list that names the variables (the
 * permissions, .env.example, compose.yaml, the ConfigMap, the policy, README's table).
 *
 * @example
 * ```ts
 * import { parseConfig } from "./mod.ts";
 * const config = parseConfig({ PORT: "3000" });
 * console.log(config.port); // 3000
 * ```
 *
 * @module
 */
import { z } from "zod";
import { CSS_COLOR_NAMES } from "./_css_colors.ts";
import { ConfigError, type Env, quoteValue, readVariables } from "./env.ts";

export { ConfigError, type Env };

/**
 * What checks and converts a variable's value: a zod schema is one. Each issue's message
 * follows the variable's name in the error (`PORT must be ...`).
 */
export interface Rule<T> {
  /** Check `value`; on success `data` is the converted value. */
  safeParse(value: string):
    | { success: true; data: T }
    | { success: false; error: { issues: readonly { message: string }[] } };
}

/** How one environment variable is read, checked and documented: an entry of {@linkcode VARIABLES}. */
export interface Variable<K extends string = string, T = unknown> {
  /** The {@linkcode Config} property it fills. */
  readonly key: K;
  /** Checks and converts a set value. */
  readonly schema: Rule<T>;
  /** The value when the variable is unset or empty. */
  readonly default: T;
  /** The default as the docs show it (markdown), where it is not just `default`. */
  readonly shown?: string;
  /** The value the image's ENV sets (Dockerfile, both runtime stages), if any. */
  readonly image?: string;
  /** What it means, in a few words (markdown): README's table and `--help`. */
  readonly doc: string;
}

/** A variable the Deno runtime reads by itself (no permission, not in Config), documented here. */
export interface RuntimeVariable {
  /** The variable's name. */
  readonly name: string;
  /** The default as the docs show it (markdown). */
  readonly shown: string;
  /** What it means (markdown). */
  readonly doc: string;
}

// Printable text: no control characters (they would corrupt logs and terminals).
// deno-lint-ignore no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const HEX_COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/;

function integer(min: number, max: number, hint = "") {
  const rule = `must be an integer from ${min} to ${max}${hint}`;
  return z.string().regex(/^\d{1,9}$/, rule).transform(Number).pipe(
    z.number().int().min(min, rule).max(max, rule),
  );
}

function printable(max: number) {
  return z.string().max(max, `must be at most ${max} characters`).refine(
    (value) => !CONTROL_CHARACTERS.test(value),
    "must not contain control characters",
  );
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(", ")}` });
}

/** One entry of {@linkcode VARIABLES}; its type comes from its rule, and its default must fit. */
function variable<const K extends string, T>(
  spec: Omit<Variable<K, T>, "default"> & { readonly default: NoInfer<T> },
): Variable<K, T> {
  return spec;
}

/**
 * Default of MAX_CONNECTIONS where no memory limit can be read, and the most a limit sizes it
 * to; also the server's own default (server/mod.ts).
 */
export const DEFAULT_MAX_CONNECTIONS = 16_384;

/**
 * Every variable the server reads, in the order problems are reported. Adding one: its entry
 * here, its use, its test in tests/config_test.ts, then `deno task generate`
 * (docs/contributing.md).
 */
export const VARIABLES = {
  PORT: variable({
    key: "port",
    schema: integer(0, 65535, " (0 picks a free port)"),
    default: 8080,
    image: "80",
    doc: "port to listen on, 0–65535 (0 picks a free one)",
  }),
  HOST: variable({
    key: "host",
    schema: z.string().refine(
      (value) =>
        z.ipv4().safeParse(value).success || z.ipv6().safeParse(value).success ||
        HOST_NAME.test(value),
      "must be an IP address or a host name",
    ),
    default: "0.0.0.0",
    doc: "address to listen on: an IP address or host name",
  }),
  BACKGROUND_COLOR: variable({
    key: "backgroundColor",
    schema: z.string().transform((value) => value.toLowerCase()).refine(
      (value) => CSS_COLOR_NAMES.has(value) || HEX_COLOR.test(value),
      "must be a CSS colour name (such as white or steelblue) or a hex colour (such as #1e90ff)",
    ),
    default: "white",
    doc: "a CSS colour name (`steelblue`) or hex colour (`#1e90ff`)",
  }),
  CUSTOM_MESSAGE: variable({
    key: "customMessage",
    schema: printable(200),
    default: "SWFT Demo",
    doc: "the message card: at most 200 characters, no control characters",
  }),
  HOSTNAME: variable({
    key: "hostname",
    schema: printable(253),
    default: "local",
    doc: "the container ID card; Docker sets it",
  }),
  LOG_LEVEL: variable({
    key: "logLevel",
    schema: oneOf(["debug", "info", "warn", "error"]),
    default: "info",
    doc:
      "`debug`, `info`, `warn` or `error`; `warn` and up hide the access log and the start-up line",
  }),
  LOG_FORMAT: variable({
    key: "logFormat",
    schema: oneOf(["auto", "json", "pretty"]),
    default: "auto",
    image: "json",
    doc: "`json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise)",
  }),
  SHUTDOWN_TIMEOUT_MS: variable({
    key: "shutdownTimeoutMs",
    schema: integer(0, 600000),
    default: 5000,
    doc: "how long SIGTERM waits for running requests, 0–600000",
  }),
  METRICS: variable({
    key: "metrics",
    schema: oneOf(["off", "prometheus"]),
    default: "off",
    doc: "`prometheus` serves `GET /metrics` (Prometheus text format)",
  }),
  SHUTDOWN_DELAY_MS: variable({
    key: "shutdownDelayMs",
    schema: integer(0, 600000),
    default: 0,
    doc: "after SIGTERM, keep serving this long with `/ready` at 503 (Kubernetes)",
  }),
  MAX_CONNECTIONS: variable({
    key: "maxConnections",
    schema: integer(1, 1_000_000),
    default: DEFAULT_MAX_CONNECTIONS,
    shown: `from the memory limit, else \`${DEFAULT_MAX_CONNECTIONS}\``,
    doc: "connections served at once, 1–1000000 (the default: [operations.md](docs/operations.md))",
  }),
  SWFT_REVISION: variable({
    key: "revision",
    schema: z.string().regex(/^[\w.+-]{1,64}$/, "must be 1 to 64 letters, digits or . _ + -"),
    default: "unknown",
    image: "${REVISION}",
    shown: "`unknown` (the image: its `REVISION` build argument)",
    doc: "the source revision in `/metrics`' build info",
  }),
};

/** Variables the Deno runtime reads itself: in the docs, not in the permissions or Config. */
export const RUNTIME_VARIABLES: readonly RuntimeVariable[] = [
  {
    name: "TZ",
    shown: "the system's (image: UTC)",
    doc: "time zone of `/time` and the clock, such as `Europe/Paris`",
  },
];

/** The schema's type: each variable's name to its {@linkcode Variable} entry. */
export type Variables = typeof VARIABLES;

/** The name of a variable the server reads. */
export type ConfigVariable = keyof Variables;

/** Every variable the server reads; `start` and the image grant exactly these. */
export const CONFIG_VARIABLES = Object.keys(VARIABLES) as readonly ConfigVariable[];

/**
 * The validated, typed configuration of one server: one property per entry of
 * {@linkcode VARIABLES} (named by its `key`, typed by its rule), and where values came from.
 */
export type Config =
  & { readonly [N in ConfigVariable as Variables[N]["key"]]: Variables[N]["default"] }
  & {
    /** The variables that were set, as opposed to defaulted (for the startup log line). */
    readonly sources: readonly ConfigVariable[];
    /** Where `maxConnections` came from: `MAX_CONNECTIONS`, the memory limit, or the default. */
    readonly maxConnectionsFrom: string;
  };

/** The container's memory limit, as {@linkcode readMemoryLimit} found it. */
export interface MemoryLimit {
  /** The limit in bytes. */
  bytes: number;
  /** Where it was read: `cgroup`. */
  source: string;
}

/** Options of {@linkcode parseConfig}. */
export interface ParseOptions {
  /** The container's memory limit ({@linkcode readMemoryLimit}): sizes MAX_CONNECTIONS' default. */
  memoryLimit?: MemoryLimit;
}

/**
 * Validate environment variables into a frozen {@linkcode Config}. An empty value counts as
 * unset, so `PORT=` in an env file means the default.
 *
 * @throws {ConfigError} naming each invalid variable, its rule and its value
 */
export function parseConfig(env: Env, options: ParseOptions = {}): Config {
  const values: Record<string, unknown> = {};
  const sources: ConfigVariable[] = [];
  const problems = new Set<string>();
  for (const name of CONFIG_VARIABLES) {
    const spec: Variable = VARIABLES[name];
    const value = env[name];
    if (value === undefined || value === "") {
      values[spec.key] = spec.default;
      continue;
    }
    sources.push(name);
    const result = spec.schema.safeParse(value);
    if (result.success) values[spec.key] = result.data;
    else {
      for (const issue of result.error.issues) {
        problems.add(`${name} ${issue.message}, got ${quoteValue(value)}`);
      }
    }
  }
  if (problems.size) throw new ConfigError([...problems]);
  let maxConnectionsFrom = "MAX_CONNECTIONS";
  if (!sources.includes("MAX_CONNECTIONS")) {
    const { memoryLimit } = options;
    if (memoryLimit) {
      values.maxConnections = connectionsForMemory(memoryLimit.bytes);
      maxConnectionsFrom = `memory limit ${formatMiB(memoryLimit.bytes)} (${memoryLimit.source})`;
    } else maxConnectionsFrom = "default (no memory limit found)";
  }
  return Object.freeze({
    ...values,
    sources: Object.freeze(sources),
    maxConnectionsFrom,
  }) as Config;
}

/**
 * Read the server's variables from the process environment, each by name, so it works under
 * `--allow-env=PORT,HOST,...`.
 *
 * @throws {ConfigError} naming each variable whose bytes are not valid UTF-8
 */
export function readEnv(): Env {
  return readVariables(CONFIG_VARIABLES);
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * What the server needs beside its connections, counted against a container's limit: the idle
 * server, a running HEALTHCHECK and what a storm of connections leaves behind (measured:
 * docs/operations.md, "MAX_CONNECTIONS and the memory limit").
 */
export const MEMORY_BASELINE_BYTES = 56 * MiB;
/**
 * Memory set aside for each connection: about twice what an idle keep-alive connection costs,
 * as a busy one holds buffers too (measured: docs/operations.md).
 */
export const CONNECTION_BUDGET_BYTES = 64 * KiB;
/** The fewest connections a memory limit sizes the server for: even a tight one serves some. */
export const MIN_MAX_CONNECTIONS = 64;

/**
 * MAX_CONNECTIONS' default for a memory limit of `bytes`: what is left after
 * {@linkcode MEMORY_BASELINE_BYTES}, in {@linkcode CONNECTION_BUDGET_BYTES} per connection,
 * from {@linkcode MIN_MAX_CONNECTIONS} to {@linkcode DEFAULT_MAX_CONNECTIONS}.
 *
 * @example
 * ```ts
 * connectionsForMemory(64 * 1024 * 1024); // 128
 * ```
 */
export function connectionsForMemory(bytes: number): number {
  const connections = Math.floor((bytes - MEMORY_BASELINE_BYTES) / CONNECTION_BUDGET_BYTES);
  return Math.min(DEFAULT_MAX_CONNECTIONS, Math.max(MIN_MAX_CONNECTIONS, connections));
}

/** The permission {@linkcode readMemoryLimit} needs: the start task and the image grant it. */
export const MEMORY_LIMIT_PERMISSION = "--allow-sys=systemMemoryInfo";

/**
 * The cgroup v1 memory controller's own limit file, as mounted in a container. On a cgroup v1
 * host a container without its own cgroup namespace sees its cgroup mounted here, while
 * /proc/self/cgroup names the host's path to it (not visible inside), so this file is the
 * container's limit. The start task and the image grant `--allow-read` of this one file.
 */
export const CGROUP_V1_MEMORY_LIMIT_FILE = "/sys/fs/cgroup/memory/memory.limit_in_bytes";

/** At or above this, a cgroup v1 limit means none (the kernel's "unlimited" is about 2^63). */
const V1_UNLIMITED = 2 ** 62;

/**
 * The memory limit that `process.constrainedMemory()` reported (`bytes`), or `undefined` for
 * none: 0 (no limit, or none readable) and cgroup v1's huge "unlimited".
 *
 * @example
 * ```ts
 * memoryLimitOf(67108864); // { bytes: 67108864, source: "cgroup" }
 * memoryLimitOf(0); // undefined
 * ```
 */
export function memoryLimitOf(bytes: number, source = "cgroup"): MemoryLimit | undefined {
  return bytes > 0 && bytes < V1_UNLIMITED ? { bytes, source } : undefined;
}

/**
 * The container's memory limit, where it can be read; `undefined` elsewhere.
 *
 * First `process.constrainedMemory()` (under `--allow-sys=systemMemoryInfo`): cgroup v2's
 * `memory.max` or v1's `memory.limit_in_bytes` of the cgroup named in /proc/self/cgroup. That
 * path is visible where the container has its own cgroup namespace (the default on cgroup v2
 * hosts); on a cgroup v1 host Docker shares the host's namespace unless run with
 * `--cgroupns=private`, the path is not visible and the result is 0. Then, as the JVM's
 * container support does, the v1 controller mount's own {@linkcode CGROUP_V1_MEMORY_LIMIT_FILE},
 * which is the container's (source `cgroup v1 mount`).
 */
export async function readMemoryLimit(): Promise<MemoryLimit | undefined> {
  const permission = { name: "sys", kind: "systemMemoryInfo" } as const;
  if (Deno.permissions.querySync(permission).state !== "granted") return undefined;
  const { default: process } = await import("node:process");
  const reported = process.constrainedMemory();
  if (reported !== 0) return memoryLimitOf(reported);
  return memoryLimitOf(await readV1MountLimit(), "cgroup v1 mount");
}

/**
 * The v1 mount's limit in bytes, 0 where there is none (cgroup v2, no permission). Deno 2.9
 * refuses `Deno.readTextFile` under /sys and /proc to anything but `--allow-all`, whatever
 * `--allow-read` names; a text import is checked against `--allow-read` alone, so the one
 * file can be granted instead of everything. The specifier is built at run time so that no
 * tool (deno install, deno compile) loads it ahead of time.
 */
async function readV1MountLimit(): Promise<number> {
  const path = CGROUP_V1_MEMORY_LIMIT_FILE;
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return 0;
  try {
    const specifier = new URL(`file://${path}`).href;
    const { default: text } = await import(specifier, { with: { type: "text" } });
    return Number(String(text).trim()) || 0;
  } catch {
    return 0; // no v1 memory controller mounted here
  }
}

function formatMiB(bytes: number): string {
  return `${Math.round(bytes / MiB)} MiB`;
}

function shownDefault(spec: Variable): string {
  if (spec.shown) return spec.shown;
  const value = `\`${spec.default}\``;
  return spec.image ? `${value} (the image: \`${spec.image}\`)` : value;
}

/** Every documented variable as `[name, default, meaning]`, markdown, in schema order. */
export function configRows(): [string, string, string][] {
  return [
    ...CONFIG_VARIABLES.map((name): [string, string, string] => {
      const spec: Variable = VARIABLES[name];
      return [`\`${name}\``, shownDefault(spec), spec.doc];
    }),
    ...RUNTIME_VARIABLES.map(({ name, shown, doc }): [string, string, string] => [
      `\`${name}\``,
      shown,
      doc,
    ]),
  ];
}

/** README's configuration table, as `deno fmt` lays it out (`deno task generate` writes it). */
export function configTable(): string {
  const rows = [["variable", "default", "meaning"], ...configRows()];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)]
    .join("\n");
}

/**
 * Markdown as plain text: no backticks, links as their text (`--help`, .env.example).
 *
 * @example
 * ```ts
 * plainText("`off` ([docs](docs/a.md))"); // "off (docs)"
 * ```
 */
export function plainText(markdown: string): string {
  return markdown.replaceAll("`", "").replace(/\[([^\]]+)\]\([^)]+\)/g, "$1");
}

/** The variables for `--help`: one line each, plain text. */
export function configUsage(): string {
  const rows = configRows().map((row) => row.map(plainText));
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, shown, doc]) => `  ${name.padEnd(width)}  ${doc}; default: ${shown}`)
    .join("\n");
}
