/**
 * What the image's process may do, read from the image itself: Deno can say it, so the
 * release makes it checkable (the permissions attestation).
 *
 * - `runtime-deno`: the ENTRYPOINT is `deno run FLAGS... MODULE`; its flags are the truth.
 * - the compiled `runtime`: the ENTRYPOINT is the binary, whose permissions were fixed by
 *   `deno compile`. They are read from the binary's embedded metadata where it can be found
 *   (a JSON object with `permissions` that Deno writes into the executable), else they are
 *   the flags the build compiled it with (tasks/build.ts, from deno.json's `start` task).
 *
 * @module
 */
import type { PermissionsPredicate } from "../predicates.ts";

// Deno 2's one-letter permission flags, in long form.
const SHORT: Record<string, string> = {
  "-A": "--allow-all",
  "-R": "--allow-read",
  "-W": "--allow-write",
  "-N": "--allow-net",
  "-E": "--allow-env",
  "-S": "--allow-sys",
  "-I": "--allow-import",
};

/**
 * The permission flags of a `deno run` command line (ENTRYPOINT + CMD), in long form; throws
 * when the permissions cannot be told from it (not `deno run`, or a permission set `-P`
 * read from a config file).
 *
 * @example
 * ```ts
 * entrypointFlags(["/usr/bin/deno", "run", "--frozen", "-N=0.0.0.0", "/app/main.ts"]);
 * // ["--allow-net=0.0.0.0"]
 * ```
 */
export function entrypointFlags(command: string[]): string[] {
  const run = command.indexOf("run");
  if (!/(^|\/)deno$/.test(command[0] ?? "") || run < 0) {
    throw new Error(`Cannot read permissions from "${command.join(" ")}": not a deno run command`);
  }
  const flags: string[] = [];
  for (const word of command.slice(run + 1)) {
    if (!word.startsWith("-")) break; // the module: what follows are the app's arguments
    if (/^(-P|--permission-set)(=|$)/.test(word)) {
      throw new Error(
        `Cannot read permissions from "${word}": they come from a config file, list them as flags`,
      );
    }
    const [name, value] = splitFlag(word);
    const long = SHORT[name] ?? name;
    if (/^--(allow|deny)-[a-z-]+$/.test(long)) {
      flags.push(value === undefined ? long : `${long}=${value}`);
    }
  }
  return flags;
}

function splitFlag(word: string): [string, string | undefined] {
  const eq = word.indexOf("=");
  return eq < 0 ? [word, undefined] : [word.slice(0, eq), word.slice(eq + 1)];
}

/** Flags grouped by kind: `--allow-net=a,b` becomes `allow.net = ["a", "b"]`, a bare flag `["*"]`. */
export function groupFlags(flags: string[]): Pick<PermissionsPredicate, "allow" | "deny"> {
  const grouped = { allow: {} as Record<string, string[]>, deny: {} as Record<string, string[]> };
  for (const flag of flags) {
    const match = /^--(allow|deny)-([a-z-]+)(?:=(.*))?$/.exec(flag);
    if (!match) continue;
    const [, side, kind, value] = match;
    const list = grouped[side as "allow" | "deny"][kind] ??= [];
    list.push(...(value === undefined ? ["*"] : value.split(",").filter(Boolean)));
  }
  return grouped;
}

/** Deno's `PermissionFlags` as the compiled binary's metadata serialises them. */
type PermissionFlags = Record<string, boolean | string[] | null | undefined>;

/**
 * The flags a compiled binary carries, from the metadata JSON Deno embeds in it (the
 * object holding `"permissions"`), or `undefined` when none can be found. The object is
 * located by its key, not by offsets: the section layout changes between Deno versions,
 * the JSON does not.
 */
export function binaryFlags(binary: Uint8Array): string[] | undefined {
  const text = new TextDecoder("latin1").decode(binary);
  for (let at = text.indexOf('"permissions":{'); at >= 0;) {
    const object = jsonObjectAt(text, at + '"permissions":'.length);
    if (object) {
      try {
        const flags = flagsOf(JSON.parse(object) as PermissionFlags);
        if (flags) return flags;
      } catch {
        // not the metadata: keep looking
      }
    }
    at = text.indexOf('"permissions":{', at + 1);
  }
  return undefined;
}

// The balanced JSON object starting at `start` (strings and escapes respected).
function jsonObjectAt(text: string, start: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length && i < start + 65_536; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return text.slice(start, i + 1);
  }
  return undefined;
}

function flagsOf(permissions: PermissionFlags): string[] | undefined {
  if (!("allow_net" in permissions || "allow_all" in permissions)) return undefined;
  const flags: string[] = permissions.allow_all === true ? ["--allow-all"] : [];
  for (const [key, value] of Object.entries(permissions)) {
    const match = /^(allow|deny)_([a-z_]+)$/.exec(key);
    if (!match || key === "allow_all" || value === null || value === undefined) continue;
    if (typeof value === "boolean") {
      if (value) flags.push(`--${match[1]}-${match[2].replaceAll("_", "-")}`);
      continue;
    }
    const flag = `--${match[1]}-${match[2].replaceAll("_", "-")}`;
    flags.push(value.length === 0 ? flag : `${flag}=${value.join(",")}`);
  }
  return flags;
}

/** The permissions predicate for flags read from `source`. */
export function permissionsPredicate(
  flags: string[],
  options: { deno: string; source: PermissionsPredicate["source"]; entrypoint: string[] },
): PermissionsPredicate {
  return {
    runtime: "deno",
    deno: options.deno,
    flags,
    ...groupFlags(flags),
    source: options.source,
    entrypoint: options.entrypoint,
  };
}
