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
import { docker, dockerJson, pass, taskCommand } from "../../_lib/mod.ts";
import { permissionFlags } from "../../build.ts";
import {
  denoVersionOf,
  publishing,
  type ReleaseRun,
  type ReleaseStep,
  verifyName,
  writePredicate,
} from "../run.ts";
import { cond, jp, noWildcard } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

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

/** The Deno permissions the image's process runs with. */
export const PERMISSIONS_TYPE = "urn:swft:attestation:deno-permissions:v1";

/** The Deno permissions predicate. */
export interface PermissionsPredicate {
  /** Always `deno`. */
  runtime: "deno";
  /** Deno's version inside the image. */
  deno: string;
  /** The `--allow-*` / `--deny-*` flags, in long form, as the process gets them. */
  flags: string[];
  /** The same flags by kind (`net`, `read`, `env`...): the values, or `["*"]` for all. */
  allow: Record<string, string[]>;
  /** The `--deny-*` flags by kind. */
  deny: Record<string, string[]>;
  /** Where they were read: the image's ENTRYPOINT, the compiled binary, or the compile flags. */
  source: "entrypoint" | "binary" | "compile-flags";
  /** The image's ENTRYPOINT. */
  entrypoint: string[];
}

/** The policy's parameters for the permissions (`permissions`): the ceiling. */
export interface PermissionsPolicy {
  /** The runtime the predicate must name. */
  runtime: string;
  /** Flags never allowed. */
  forbidden: string[];
  /** What each permission kind may reach. */
  ceiling: Record<string, string[]>;
}

async function compiledFlags(r: ReleaseRun, binary: string): Promise<string[] | undefined> {
  const name = `${verifyName(r.options).replace(/[^a-z0-9_.-]/g, "-")}-permissions-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const created = await docker(["create", "--name", name, r.pinned!]);
  if (created.code !== 0) throw new Error(`docker create ${r.pinned}: ${created.stderr.trim()}`);
  try {
    const copy = await docker(["cp", `${name}:${binary}`, `${r.tmp}/binary`]);
    if (copy.code !== 0) return undefined;
    return binaryFlags(await Deno.readFile(`${r.tmp}/binary`));
  } finally {
    await docker(["rm", name]);
    await Deno.remove(`${r.tmp}/binary`).catch(() => {});
  }
}

/**
 * `permissions`: the `--allow-*` / `--deny-*` flags the image's process runs with, read from
 * the image: a `deno run` ENTRYPOINT's own flags, or a compiled binary's embedded metadata,
 * else the flags the build compiles with (deno.json's `start` task); a binary whose flags
 * differ from those was not built from this source, and is refused.
 */
export const permissionsStep: ReleaseStep = {
  id: "permissions",
  when: publishing,
  async run(r) {
    const info = await dockerJson<
      { Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }
    >(
      ["image", "inspect", "--format", "{{json .}}", r.pinned!],
    );
    const entrypoint = [...info.Config?.Entrypoint ?? [], ...info.Config?.Cmd ?? []];
    let flags: string[];
    let source: PermissionsPredicate["source"];
    if (/(^|\/)deno$/.test(entrypoint[0] ?? "")) {
      flags = entrypointFlags(entrypoint);
      source = "entrypoint";
    } else {
      const compiled = permissionFlags(taskCommand("start"));
      const embedded = entrypoint[0] ? await compiledFlags(r, entrypoint[0]) : undefined;
      if (embedded && [...embedded].sort().join(" ") !== [...compiled].sort().join(" ")) {
        throw new Error(
          `Cannot attest the permissions: ${entrypoint[0]} carries ${
            embedded.join(" ")
          }, not this source's ${compiled.join(" ")}`,
        );
      }
      flags = embedded ?? compiled;
      source = embedded ? "binary" : "compile-flags";
    }
    const predicate = permissionsPredicate(flags, {
      deno: await denoVersionOf(r),
      source,
      entrypoint,
    });
    await writePredicate(r, "permissions", predicate);
    return pass(`${flags.join(" ")} (from the ${source})`);
  },
};

/** The permissions attestation; the policy's `permissions-*` rules, read against the ceiling. */
export const permissions: Attestation = {
  name: "permissions",
  cosignType: PERMISSIONS_TYPE,
  predicateType: PERMISSIONS_TYPE,
  step: permissionsStep,
  kyverno({ permissions: c }) {
    const forbiddenKinds = c.forbidden.filter((f) => f.startsWith("--allow-"))
      .map((f) => f.slice("--allow-".length));
    const notLong = "rule permissions-form: a flag that is not a long --allow-/--deny- flag";
    return [{
      all: [
        cond(
          jp("runtime"),
          "Equals",
          c.runtime,
          `rule permissions-runtime: not the runtime ${c.runtime}`,
        ),
        // Every flag in long form, as the CUE's permissions-form: the conditions below read
        // the predicate's `allow`, grouped from long flags only. No `*` or `?` first, as the
        // In operators would read one in a flag as a wildcard.
        noWildcard("flags", notLong),
        cond(jp("flags"), "AllIn", ["--allow-?*", "--deny-?*"], notLong),
        cond(
          jp("keys(allow)"),
          "AllNotIn",
          forbiddenKinds,
          `rule permissions-forbidden: one of ${c.forbidden.join(", ")} (never allowed)`,
        ),
        cond(
          jp("keys(allow)"),
          "AllIn",
          Object.keys(c.ceiling),
          "rule permissions-ceiling: a permission the ceiling does not grant",
        ),
        // Kyverno's In operators read `*` and `?` as wildcards on either side, so a bare
        // flag's ["*"] would be within any ceiling below: refused first, as the CUE does.
        noWildcard(
          "values(allow)[]",
          "rule permissions-ceiling: unrestricted, the ceiling lists what it may reach",
        ),
        ...Object.entries(c.ceiling).map(([kind, allowed]) =>
          cond(
            jp(`allow.${kind} || \`[]\``),
            "AllIn",
            allowed,
            `rule permissions-ceiling: --allow-${kind} beyond the ceiling`,
          )
        ),
      ],
    }];
  },
};
