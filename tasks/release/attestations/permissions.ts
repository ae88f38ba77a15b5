/**
 * What the image's process may do, read from the image itself and from nothing else: Deno
 * can say it, so the release makes it checkable (the permissions attestation).
 *
 * - `runtime-deno`: the ENTRYPOINT + CMD is `deno run FLAGS... SCRIPT ARGS`, read with Deno's
 *   own flag grammar (tasks/_lib/deno_run.ts); anything else is refused.
 * - the compiled `runtime`: the ENTRYPOINT is a binary whose permissions `deno compile` baked
 *   into the metadata it embeds; they are read from there, and a binary without that
 *   metadata (a copy of deno itself, any other program) is refused: the project's own files
 *   say what the image should do, never what it does.
 *
 * @module
 */
import {
  type DenoRun,
  docker,
  dockerJson,
  dockerOk,
  GRAMMAR_RULE,
  groupFlags,
  isDenoExecutable,
  parseDenoRun,
  pass,
} from "../../_lib/mod.ts";
import type { Statement } from "../cosign.ts";
import {
  denoVersionOf,
  publishing,
  RECHECK_FIX,
  type ReleaseRun,
  type ReleaseStep,
  writePredicate,
} from "../run.ts";
import { cond, type Condition, jp, literal, noWildcard } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

/** The rule a refusal to read an image's permissions names. */
export const SOURCE_RULE = "rule permissions-source";

/**
 * The permission flags of a `deno run` command line (ENTRYPOINT + CMD), in long form; throws
 * one line naming the word when it is not `deno run [known flags] SCRIPT [args]`.
 *
 * @example
 * ```ts
 * entrypointFlags(["/usr/bin/deno", "run", "--frozen", "-N=0.0.0.0", "/app/main.ts"]);
 * // ["--allow-net=0.0.0.0"]
 * ```
 */
export function entrypointFlags(command: string[]): string[] {
  return parseDenoRun(command).permissions;
}

/** The part of `deno compile`'s metadata (its `Metadata` struct, serde JSON) read here. */
export interface CompiledMetadata {
  /** Arguments baked in before the command line's. */
  argv?: string[];
  /** `--seed`. */
  seed?: number | null;
  /** Deno's `PermissionsOptions`: `allow_net: ["host"]`, `[]` for all, `null` for none. */
  permissions: Record<string, boolean | string[] | null | undefined>;
  /** `--location`. */
  location?: string | null;
  /** `--v8-flags`. */
  v8_flags?: string[];
  /** `--unsafely-ignore-certificate-errors`. */
  unsafely_ignore_certificate_errors?: string[] | null;
  /** `--preload` modules. */
  preload_modules?: string[];
  /** `--require` modules. */
  require_modules?: string[];
  /** The main module's key in the embedded file system. */
  entrypoint_key?: string;
  /** Variables read from `--env-file` at compile time. */
  env_vars_from_env_file?: Record<string, string>;
}

/** The section `deno compile` appends: its name, and the magic at both ends of its data. */
export const COMPILE_MAGIC = "d3n0l4nd";

/**
 * `deno compile`'s metadata from a compiled binary, or `undefined` when it holds none. Deno
 * (cli/standalone/binary.rs, serialize_binary_data_section) writes a data section
 * `d3n0l4nd`, then the metadata's length (u64, little-endian) and the metadata as JSON, then
 * the rest; the container around it (an ELF note or appended section, PE resource, Mach-O
 * section) changes between versions, so the section is found by its magic. The binary's
 * own code holds the magic too, followed by no length and JSON: those places are skipped.
 * Two different metadata objects in one file are refused: which one Deno reads is not ours
 * to guess.
 */
export function compiledMetadata(binary: Uint8Array): CompiledMetadata | undefined {
  const magic = new TextEncoder().encode(COMPILE_MAGIC);
  const view = new DataView(binary.buffer, binary.byteOffset, binary.byteLength);
  const found = new Set<string>();
  for (let at = indexOf(binary, magic, 0); at >= 0; at = indexOf(binary, magic, at + 1)) {
    const start = at + magic.length + 8;
    if (start > binary.length) break;
    const length = view.getBigUint64(at + magic.length, true);
    if (length < 2n || length > BigInt(binary.length - start)) continue;
    const json = new TextDecoder().decode(binary.subarray(start, start + Number(length)));
    try {
      const metadata = JSON.parse(json);
      if (metadata?.permissions && typeof metadata.permissions === "object") found.add(json);
    } catch {
      // the magic inside code or data, not the section
    }
  }
  if (found.size > 1) {
    throw new Error(
      `${SOURCE_RULE}: the binary holds ${found.size} different deno compile metadata sections; ` +
        "build it with deno compile alone",
    );
  }
  const [json] = found;
  return json === undefined ? undefined : JSON.parse(json) as CompiledMetadata;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  for (let i = haystack.indexOf(needle[0], from); i >= 0; i = haystack.indexOf(needle[0], i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    if (needle.every((b, j) => haystack[i + j] === b)) return i;
  }
  return -1;
}

/**
 * The flags a compiled binary's metadata stands for, as a `deno run` of the same app would
 * carry them: `permissions` in long form, and `runtime` for what changes what runs (location,
 * seed, V8 flags, certificate errors ignored); preloaded modules are refused as a second script.
 */
export function compiledRun(metadata: CompiledMetadata, args: string[]): DenoRun {
  const permissions: string[] = [];
  for (const [key, value] of Object.entries(metadata.permissions)) {
    const match = /^(allow|deny)_([a-z_]+)$/.exec(key);
    if (!match || value === null || value === undefined || value === false) continue;
    const flag = `--${match[1]}-${match[2].replaceAll("_", "-")}`;
    const values = Array.isArray(value) ? value : [];
    permissions.push(values.length === 0 ? flag : `${flag}=${values.join(",")}`);
  }
  const preload = [...metadata.preload_modules ?? [], ...metadata.require_modules ?? []];
  if (preload.length > 0) {
    throw new Error(
      `${GRAMMAR_RULE}: the binary preloads "${preload[0]}", a second script; ` +
        "compile without --preload/--require",
    );
  }
  const runtime = [
    ...(metadata.location ? [`--location=${metadata.location}`] : []),
    ...(typeof metadata.seed === "number" ? [`--seed=${metadata.seed}`] : []),
    ...(metadata.v8_flags?.length ? [`--v8-flags=${metadata.v8_flags.join(",")}`] : []),
    ...(metadata.unsafely_ignore_certificate_errors
      ? [`--unsafely-ignore-certificate-errors=${metadata.unsafely_ignore_certificate_errors}`]
      : []),
    ...(Object.keys(metadata.env_vars_from_env_file ?? {}).length ? ["--env-file"] : []),
  ];
  return {
    executable: "",
    permissions,
    runtime,
    script: metadata.entrypoint_key ?? "",
    args: [...metadata.argv ?? [], ...args],
  };
}

/** The flags of a compiled binary's embedded metadata, or `undefined` when it holds none. */
export function binaryFlags(binary: Uint8Array): string[] | undefined {
  const metadata = compiledMetadata(binary);
  return metadata && compiledRun(metadata, []).permissions;
}

/** An image's configuration as `docker image inspect` gives it (the parts read here). */
export interface ImageConfig {
  /** ENTRYPOINT. */
  Entrypoint?: string[] | null;
  /** CMD. */
  Cmd?: string[] | null;
  /** ENV, `K=V`. */
  Env?: string[] | null;
}

/** What an image's process runs and may do, read from the image. */
export interface ImageRun extends DenoRun {
  /** Where the permissions were read. */
  source: PermissionsPredicate["source"];
  /** The image's variables Deno reads (`DENO_*`), `K=V`. */
  env: string[];
}

/**
 * What the image's process runs and may do: `deno run` read from ENTRYPOINT + CMD, or a
 * compiled binary's metadata (`readBinary` copies the file out of the image); anything else
 * throws one line naming the rule. `NODE_OPTIONS` in the image is refused: Deno reads
 * `--inspect` and `--require` from it, out of the command line's sight.
 */
export async function imageRun(
  config: ImageConfig,
  readBinary: (path: string) => Promise<Uint8Array | undefined>,
): Promise<ImageRun> {
  const command = [...config.Entrypoint ?? [], ...config.Cmd ?? []];
  const env = (config.Env ?? []).filter((e) => /^(DENO_|NODE_OPTIONS=)/.test(e));
  const nodeOptions = env.find((e) => e.startsWith("NODE_OPTIONS="));
  if (nodeOptions) {
    throw new Error(
      `${SOURCE_RULE}: the image sets ${nodeOptions}, from which Deno reads --inspect and ` +
        "--require; remove it from the image",
    );
  }
  const executable = command[0] ?? "";
  if (isDenoExecutable(executable)) {
    return { ...parseDenoRun(command), source: "entrypoint", env };
  }
  const binary = executable.startsWith("/") ? await readBinary(executable) : undefined;
  const metadata = binary && compiledMetadata(binary);
  if (!metadata) {
    throw new Error(
      `${SOURCE_RULE}: the entry point "${executable}" is neither deno run nor a binary ` +
        "made by deno compile (no embedded metadata); run deno run or a compiled app",
    );
  }
  return { ...compiledRun(metadata, command.slice(1)), executable, source: "binary", env };
}

/** A file of a local image, copied out of a created (never started) container; links followed. */
async function imageFile(ref: string, path: string): Promise<Uint8Array | undefined> {
  const container = await dockerOk(["create", ref]);
  const tmp = await Deno.makeTempDir({ prefix: "swft-permissions-" });
  try {
    const copy = await docker(["cp", "-L", `${container}:${path}`, `${tmp}/file`]);
    return copy.code === 0 ? await Deno.readFile(`${tmp}/file`) : undefined;
  } finally {
    await docker(["rm", container]);
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * {@linkcode imageRun} on a local image: its configuration from `docker image inspect`, the
 * entry point's file copied out of the image when it is not deno. With `denoImage` (the
 * DENO_IMAGE the build used), an entry point named deno must be that image's deno, byte for
 * byte: a wrapper named deno would run what it likes with the flags attested.
 */
export async function readImageRun(
  ref: string,
  options: { denoImage?: string } = {},
): Promise<ImageRun & { config: ImageConfig }> {
  const info = await dockerJson<{ Config?: ImageConfig }>(
    ["image", "inspect", "--format", "{{json .}}", ref],
  );
  const config = info.Config ?? {};
  const run = await imageRun(config, (path) => imageFile(ref, path));
  if (run.source === "entrypoint" && options.denoImage) {
    const [ours, theirs] = await Promise.all([
      imageFile(ref, run.executable),
      imageFile(options.denoImage, run.executable),
    ]);
    const same = ours !== undefined && theirs !== undefined && ours.length === theirs.length &&
      ours.every((byte, i) => byte === theirs[i]);
    if (!same) {
      throw new Error(
        `${SOURCE_RULE}: ${run.executable} in the image is not the deno of ` +
          `DENO_IMAGE=${options.denoImage} (${ours ? "its bytes differ" : "not found"}); ` +
          "copy deno from DENO_IMAGE",
      );
    }
  }
  return { ...run, config };
}

/** The permissions predicate for what {@linkcode imageRun} read, and the image's command. */
export function permissionsPredicate(
  run: Pick<ImageRun, "permissions" | "runtime" | "script" | "args" | "source" | "env">,
  options: { deno: string; entrypoint: string[]; cmd?: string[] },
): PermissionsPredicate {
  return {
    runtime: "deno",
    deno: options.deno,
    flags: run.permissions,
    ...groupFlags(run.permissions),
    source: run.source,
    entrypoint: [...options.entrypoint, ...options.cmd ?? []],
    command: { entrypoint: options.entrypoint, cmd: options.cmd ?? [] },
    script: run.script,
    args: run.args,
    runtimeFlags: run.runtime,
    env: run.env,
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
  /** Where they were read: the image's `deno run` ENTRYPOINT + CMD, or the compiled binary. */
  source: "entrypoint" | "binary";
  /** The image's ENTRYPOINT and CMD, one after the other: what the process runs. */
  entrypoint: string[];
  /** The image's ENTRYPOINT and CMD apart. */
  command: { entrypoint: string[]; cmd: string[] };
  /** The module run (`/app/main.ts`; a compiled binary's entry key). */
  script: string;
  /** The script's arguments. */
  args: string[];
  /** Every flag that is not a permission, long form (`--cached-only`, `--seed=1`). */
  runtimeFlags: string[];
  /** The image's variables Deno reads (`DENO_*`), `K=V`. */
  env: string[];
}

/** The policy's parameters for the permissions (`permissions`): what runs, and the ceiling. */
export interface PermissionsPolicy {
  /** The runtime the predicate must name. */
  runtime: string;
  /** The scripts an image may run (`deno run`'s, and a compiled binary's entry key). */
  scripts: string[];
  /** The flags other than permissions an image may run with. */
  runtimeFlags: string[];
  /** The flags a `deno run` entry point must carry (`--cached-only`). */
  requiredRuntimeFlags: string[];
  /** Flags never allowed. */
  forbidden: string[];
  /** What each permission kind may reach. */
  ceiling: Record<string, string[]>;
}

/**
 * `permissions`: what the image's process runs and may do, read from the image alone: a
 * `deno run` ENTRYPOINT + CMD read with Deno's flag grammar (whose deno must be DENO_IMAGE's),
 * or a compiled binary's embedded metadata; any other entry point, or one that cannot be read,
 * is refused.
 */
export const permissionsStep: ReleaseStep = {
  id: "permissions",
  when: publishing,
  async run(r) {
    const denoImage = r.bases?.find((b) => b.name === "DENO_IMAGE")?.ref;
    const { config, ...run } = await readImageRun(r.pinned!, { denoImage });
    const predicate = permissionsPredicate(run, {
      deno: await denoVersionOf(r),
      entrypoint: config.Entrypoint ?? [],
      cmd: config.Cmd ?? [],
    });
    await writePredicate(r, "permissions", predicate);
    return pass(`${run.permissions.join(" ")} (from the ${run.source}, running ${run.script})`);
  },
};

/**
 * Kyverno: the permission flags as the CUE's permissions-form, -forbidden and -ceiling read
 * them, from `flags`, each flag split at its first `=` (`split(@, '=')[0]`, the CUE's
 * `strings.SplitN(f, "=", 2)[0]`).
 */
function flagConditions(c: PermissionsPolicy): Condition[] {
  const name = "split(@, '=')[0]";
  const allowed = `starts_with(@, '--allow-') && !contains(${literal(c.forbidden)}, ${name})`;
  const granted = literal(Object.keys(c.ceiling).map((kind) => `--allow-${kind}`));
  return [
    // Long flags only, as the CUE's permissions-form: the conditions below read those.
    cond(
      jp("length(flags[?!regex_match('^--(allow|deny)-[a-z-]+(=.*)?$', @)])"),
      "Equals",
      0,
      "rule permissions-form: a flag that is not a long --allow-/--deny- flag",
    ),
    cond(
      jp(`length(flags[?contains(${literal(c.forbidden)}, ${name})])`),
      "Equals",
      0,
      `rule permissions-forbidden: one of ${c.forbidden.join(", ")} (never allowed)`,
    ),
    cond(
      jp(`length(flags[?${allowed} && !contains(${granted}, ${name})])`),
      "Equals",
      0,
      "rule permissions-ceiling: a permission the ceiling does not grant",
    ),
    cond(
      jp(`length(flags[?${allowed} && !contains(@, '=')])`),
      "Equals",
      0,
      "rule permissions-ceiling: unrestricted, the ceiling lists what it may reach",
    ),
    // Each kind's values within its ceiling; no `*` or `?` first, as the In operators would
    // read one in a value as a wildcard.
    ...Object.entries(c.ceiling).flatMap(([kind, values]) => {
      const flag = `--allow-${kind}=`;
      const given = `flags[?starts_with(@, '${flag}')].split(trim_prefix(@, '${flag}'), ',') | []`;
      const why = `rule permissions-ceiling: --allow-${kind} beyond the ceiling`;
      return [noWildcard(given, why), cond(jp(given), "AllIn", values, why)];
    }),
  ];
}

// Names only where a flag lists values (--allow-env=A,B,... would fill the line).
function short(flags: string[]): string {
  return flags.map((f) => f.includes("=") ? `${f.split("=")[0]}=...` : f).join(" ") || "no flags";
}

/** How the image's flags differ from the attested ones, in words. */
function flagsDiffer(run: ImageRun, attested: string[]): string {
  const extra = run.permissions.filter((f) => !attested.includes(f));
  const missing = attested.filter((f) => !run.permissions.includes(f));
  const image = `the image's ${run.source}`;
  if (missing.length === 0) return `${image} gives ${short(extra)}, which is not attested`;
  if (extra.length === 0) return `the attested ${short(missing)} is not in ${image}`;
  return `${image} gives ${short(extra)} instead of the attested ${short(missing)}`;
}

/** What the image holds that `attested` does not say, in words; `undefined` when it says it. */
function permissionsDiffer(
  run: ImageRun,
  entrypoint: string[],
  attested: Partial<PermissionsPredicate> | undefined,
): string | undefined {
  const set = (list: string[] | undefined) => JSON.stringify([...list ?? []].sort());
  if (set(attested?.flags) !== set(run.permissions)) return flagsDiffer(run, attested?.flags ?? []);
  if (JSON.stringify(attested?.entrypoint) !== JSON.stringify(entrypoint)) {
    return `attested the entry point ${JSON.stringify(attested?.entrypoint)}, the image runs ${
      JSON.stringify(entrypoint)
    }`;
  }
  if (set(attested?.env) !== set(run.env)) {
    return `attested the variables ${JSON.stringify(attested?.env ?? [])}, the image sets ${
      JSON.stringify(run.env)
    }`;
  }
  return undefined;
}

/**
 * The rule `permissions-recheck` (`--verify-only`): what the image's process runs and may do,
 * read again from the pulled image ({@linkcode readImageRun}), must be every statement's flags,
 * entry point and Deno variables.
 */
async function recheckPermissions(r: ReleaseRun, statements: Statement[]): Promise<string> {
  let run: ImageRun & { config: ImageConfig };
  try {
    run = await readImageRun(r.pinned!);
  } catch (error) {
    throw new Error(`rule permissions-recheck: ${(error as Error).message}`);
  }
  const entrypoint = [...run.config.Entrypoint ?? [], ...run.config.Cmd ?? []];
  for (const { predicate } of statements) {
    const what = permissionsDiffer(run, entrypoint, predicate as Partial<PermissionsPredicate>);
    if (what) throw new Error(`rule permissions-recheck: ${what}; ${RECHECK_FIX}`);
  }
  const names = run.permissions.map((flag) => flag.split("=")[0]).join(" ") || "no flags";
  return `${names} with their values, from the image's ${run.source}, as attested`;
}

/** The permissions attestation; the policy's `permissions-*` rules, read against the ceiling. */
export const permissions: Attestation = {
  name: "permissions",
  cosignType: PERMISSIONS_TYPE,
  predicateType: PERMISSIONS_TYPE,
  step: permissionsStep,
  recheck: recheckPermissions,
  // Every condition reads what the CUE reads: `flags` (the predicate's `allow` and `deny` are
  // a grouped view that no policy reads), `script`, `runtimeFlags` and `source`.
  kyverno({ permissions: c }) {
    const notScript = "rule permissions-script: not a script this policy runs";
    const notRuntimeFlag =
      "rule permissions-runtime-flags: a runtime flag this policy does not allow";
    return [{
      all: [
        cond(
          jp("runtime"),
          "Equals",
          c.runtime,
          `rule permissions-runtime: not the runtime ${c.runtime}`,
        ),
        // The CUE's permissions-fields: `source` decides whether --cached-only is required.
        cond(jp("source != `null`"), "Equals", true, "rule permissions-fields: no source"),
        ...flagConditions(c),
        // What runs, as the CUE's permissions-script and permissions-runtime-flags (a missing
        // field is null in JMESPath, and null is in no list).
        noWildcard("[script]", notScript),
        cond(jp("script"), "AnyIn", c.scripts, notScript),
        noWildcard("runtimeFlags", notRuntimeFlag),
        cond(jp("runtimeFlags"), "AllIn", c.runtimeFlags, notRuntimeFlag),
        ...c.requiredRuntimeFlags.map((flag) =>
          cond(
            jp(`source != 'entrypoint' || contains(runtimeFlags || \`[]\`, '${flag}')`),
            "Equals",
            true,
            `rule permissions-runtime-flags: ${flag} required: without it a dynamic import can reach the network`,
          )
        ),
      ],
    }];
  },
};
