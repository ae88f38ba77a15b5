/**
 * `deno run`'s command line read with Deno's own flag grammar (Deno 2.9's `run` subcommand:
 * which flags take a value, and how; which are permissions; which change what runs), so the
 * permissions attestation cannot be talked past by a flag that swallows the next word.
 * Anything that is not `deno run [known flags] SCRIPT [args]` is refused, naming the word.
 *
 * The table is our own, written from the arguments Deno declares for `run` (cli/args/flags.rs:
 * run_args, runtime_args, permission_args, inspect_args, the unstable features): a flag Deno
 * adds later is unknown here, and so refused until it is added.
 *
 * @module
 */

/**
 * How a flag takes its value, in clap's terms as Deno declares it:
 * - `none`: a switch (`--cached-only`);
 * - `equals`: an optional value, only as `--flag=VALUE` (`--allow-net`, `--inspect`);
 * - `next`: one value, `--flag VALUE` or `--flag=VALUE` (`--seed 1`, `--config FILE`);
 * - `equals-required`: a value, only as `--flag=VALUE`.
 */
export type Arity = "none" | "equals" | "next" | "equals-required";

/**
 * What a flag does: `permission` grants or denies (it is attested as a permission flag),
 * `second-script` runs code before the script (refused), the rest are recorded as runtime
 * flags, which the policy allow-lists.
 */
export type Effect = "permission" | "second-script" | "runtime";

/** One `deno run` flag: how it takes a value, and what it does. */
export interface FlagSpec {
  /** See {@linkcode Arity}. */
  arity: Arity;
  /** See {@linkcode Effect}. */
  effect: Effect;
}

const P = (arity: Arity): FlagSpec => ({ arity, effect: "permission" });
const R = (arity: Arity): FlagSpec => ({ arity, effect: "runtime" });

// Unstable features Deno 2.9 declares (runtime/features/data.rs): each a `--unstable-NAME` switch.
const UNSTABLE = [
  "bare-node-builtins",
  "broadcast-channel",
  "byonm",
  "cron",
  "detect-cjs",
  "ffi",
  "fs",
  "http",
  "kv",
  "lazy-dynamic-imports",
  "lockfile-v5",
  "net",
  "no-legacy-abort",
  "node-globals",
  "npm-lazy-caching",
  "otel",
  "process",
  "raw-imports",
  "sloppy-imports",
  "subdomain-wildcards",
  "temporal",
  "unsafe-proto",
  "vsock",
  "webgpu",
  "worker-options",
  "bundle",
  "tsgo",
];

/** `deno run`'s long flags (canonical names, without `--`). */
export const DENO_RUN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  // permissions (permission_args, allow_import_arg)
  "allow-all": P("none"),
  "permission-set": P("equals"),
  "allow-read": P("equals"),
  "deny-read": P("equals"),
  "allow-write": P("equals"),
  "deny-write": P("equals"),
  "allow-net": P("equals"),
  "deny-net": P("equals"),
  "allow-env": P("equals"),
  "deny-env": P("equals"),
  "allow-sys": P("equals"),
  "deny-sys": P("equals"),
  "allow-run": P("equals"),
  "deny-run": P("equals"),
  "allow-ffi": P("equals"),
  "deny-ffi": P("equals"),
  "allow-hrtime": P("none"),
  "deny-hrtime": P("none"),
  "allow-import": P("equals"),
  "deny-import": P("equals"),
  // code run before the script (runtime_misc_args)
  "preload": { arity: "next", effect: "second-script" },
  "require": { arity: "next", effect: "second-script" },
  // everything else `run` takes
  "ignore-read": R("equals"),
  "ignore-env": R("equals"),
  "no-prompt": R("none"),
  "import-map": R("next"),
  "no-remote": R("none"),
  "no-npm": R("none"),
  "node-modules-dir": R("equals"),
  "node-modules-linker": R("equals-required"),
  "vendor": R("equals"),
  "conditions": R("next"),
  "config": R("next"),
  "no-config": R("none"),
  "reload": R("equals"),
  "lock": R("equals"), // clap takes an optional next word; written with '=' only (see below)
  "no-lock": R("none"),
  "frozen": R("equals"),
  "cert": R("next"),
  "unsafely-ignore-certificate-errors": R("equals"),
  "minimum-dependency-age": R("next"),
  "no-check": R("equals"),
  "check": R("equals"),
  "inspect": R("equals"),
  "inspect-brk": R("equals"),
  "inspect-wait": R("equals"),
  "inspect-publish-uid": R("equals-required"),
  "allow-scripts": R("equals"),
  "cached-only": R("none"),
  "location": R("next"),
  "v8-flags": R("equals"),
  "seed": R("next"),
  "enable-testing-features-do-not-use": R("none"),
  "trace-ops": R("equals"),
  "eszip-internal-do-not-use": R("none"),
  "watch": R("equals"),
  "watch-hmr": R("equals"),
  "watch-exclude": R("equals"),
  "no-clear-screen": R("none"),
  "ext": R("next"),
  "env-file": R("equals"),
  "no-code-cache": R("none"),
  "coverage": R("equals"),
  "cpu-prof": R("none"),
  "cpu-prof-dir": R("next"),
  "cpu-prof-name": R("next"),
  "cpu-prof-interval": R("next"),
  "cpu-prof-md": R("none"),
  "cpu-prof-flamegraph": R("none"),
  "tunnel": R("equals"),
  "use-env-proxy": R("none"),
  "no-use-env-proxy": R("none"),
  "quiet": R("none"),
  "log-level": R("next"),
  "unstable": R("none"),
  ...Object.fromEntries(UNSTABLE.map((name) => [`unstable-${name}`, R("none")])),
};

/** Deno's other spellings of a flag, to its canonical name. */
export const DENO_RUN_ALIASES: Readonly<Record<string, string>> = {
  "importmap": "import-map",
  "linker": "node-modules-linker",
  "frozen-lockfile": "frozen",
  "min-dep-age": "minimum-dependency-age",
  "import": "preload",
  "env": "env-file",
  "connected": "tunnel",
  "unstable-hmr": "watch-hmr",
  "hmr": "watch-hmr",
  "sloppy-imports": "unstable-sloppy-imports",
  "unsafe-proto": "unstable-unsafe-proto",
};

/** `deno run`'s one-letter flags. */
const SHORT: Record<string, string> = {
  A: "allow-all",
  P: "permission-set",
  R: "allow-read",
  W: "allow-write",
  N: "allow-net",
  E: "allow-env",
  S: "allow-sys",
  I: "allow-import",
  c: "config",
  r: "reload",
  t: "tunnel",
  q: "quiet",
  L: "log-level",
};

/** A `deno run` command line, read. */
export interface DenoRun {
  /** The deno executable (`/usr/bin/deno`). */
  executable: string;
  /** The permission flags, in long form (`--allow-net=0.0.0.0`). */
  permissions: string[];
  /** Every other flag, in long canonical form (`--cached-only`, `--seed=1`). */
  runtime: string[];
  /** The module run. */
  script: string;
  /** The script's own arguments. */
  args: string[];
}

/** Permission flags by kind, as {@linkcode groupFlags} groups them. */
export interface GroupedFlags {
  /** `--allow-net=a,b` as `net: ["a", "b"]`; a bare flag as `["*"]`. */
  allow: Record<string, string[]>;
  /** The `--deny-*` flags, likewise. */
  deny: Record<string, string[]>;
}

/**
 * Long-form permission flags (as {@linkcode parseDenoRun} gives them) grouped by kind:
 * `--allow-net=a,b` becomes `allow.net = ["a", "b"]`, a bare flag `["*"]`.
 *
 * @example
 * ```ts
 * groupFlags(["--allow-net=a,b", "--deny-env"]); // { allow: { net: ["a", "b"] }, deny: { env: ["*"] } }
 * ```
 */
export function groupFlags(flags: readonly string[]): GroupedFlags {
  const grouped: GroupedFlags = { allow: {}, deny: {} };
  for (const flag of flags) {
    const match = /^--(allow|deny)-([a-z-]+)(?:=(.*))?$/.exec(flag);
    if (!match) continue;
    const [, side, kind, value] = match;
    const list = grouped[side as "allow" | "deny"][kind] ??= [];
    list.push(...(value === undefined ? ["*"] : value.split(",").filter(Boolean)));
  }
  return grouped;
}

/**
 * True when a command's first word names deno (`deno`, `/usr/bin/deno`): the command is then
 * read as `deno run`, anything else as another program.
 *
 * @example
 * ```ts
 * isDenoExecutable("/usr/bin/deno"); // true
 * ```
 */
export function isDenoExecutable(path: string): boolean {
  return /(^|\/)deno$/.test(path);
}

/** The rule every refusal of this module names. */
export const GRAMMAR_RULE = "rule deno-run-grammar";

function refuse(word: string, why: string): never {
  throw new Error(
    `${GRAMMAR_RULE}: "${word}" ${why}; the image must run deno run [known flags] SCRIPT [args]`,
  );
}

/** The canonical long name and the written value of one flag word, or a refusal. */
function flagOf(word: string): { name: string; value?: string } {
  const eq = word.indexOf("=");
  const head = eq < 0 ? word : word.slice(0, eq);
  const value = eq < 0 ? undefined : word.slice(eq + 1);
  if (head.startsWith("--")) {
    const name = DENO_RUN_ALIASES[head.slice(2)] ?? head.slice(2);
    if (!(name in DENO_RUN_FLAGS)) refuse(word, "is not a deno run flag");
    return { name, value };
  }
  const name = head.length === 2 ? SHORT[head[1]] : undefined;
  if (!name) refuse(word, "is not a deno run flag (one-letter flags are read one at a time)");
  return { name, value };
}

/**
 * Reads `deno run`'s command line (the image's ENTRYPOINT then CMD) as Deno would; throws one
 * line naming the first word that is not `deno run [known flags] SCRIPT [args]`, a flag that
 * runs a second script, or a permission set read from a config file.
 *
 * @example
 * ```ts
 * parseDenoRun(["/usr/bin/deno", "run", "--seed", "1", "-A", "/app/main.ts"]).permissions;
 * // ["--allow-all"]
 * ```
 */
export function parseDenoRun(command: readonly string[]): DenoRun {
  const [executable = "", subcommand = ""] = command;
  if (!isDenoExecutable(executable)) refuse(executable, "is not a deno executable");
  if (subcommand !== "run") refuse(subcommand, "is not the run subcommand");
  const run: DenoRun = { executable, permissions: [], runtime: [], script: "", args: [] };
  for (let i = 2; i < command.length; i++) {
    const word = command[i];
    if (word === "-" || word === "--") refuse(word, "does not name a script file");
    if (!word.startsWith("-")) {
      run.script = word;
      run.args = command.slice(i + 1);
      return run;
    }
    const { name, value: written } = flagOf(word);
    const spec = DENO_RUN_FLAGS[name];
    let value = written;
    if (spec.arity === "none" && written !== undefined) refuse(word, "takes no value");
    if (spec.arity === "equals-required" && written === undefined) {
      refuse(word, "needs its value after '='");
    }
    if (spec.arity === "next" && written === undefined) {
      value = command[++i];
      if (value === undefined || value.startsWith("-")) refuse(word, "needs a value");
    }
    // clap lets --lock take the next word as its file: the script would become the lockfile.
    if (name === "lock" && written === undefined) refuse(word, "must be written --lock=FILE");
    if (name === "permission-set") {
      refuse(word, "reads the permissions from a config file; list them as flags");
    }
    if (spec.effect === "second-script") refuse(word, "runs a second script before the script");
    const long = value === undefined ? `--${name}` : `--${name}=${value}`;
    (spec.effect === "permission" ? run.permissions : run.runtime).push(long);
  }
  return refuse(command.join(" "), "names no script");
}
