/**
 * `deno task build`: compiles main.ts into the single binary `dist/swft`, with templates/ and
 * static/ embedded and the `start` task's permissions baked in.
 *
 * - Permissions come from deno.json's `start` task, so they are defined once. Its
 *   `--allow-read` is dropped: a compiled binary reads templates and static files from its
 *   embedded file system, and denort grants read access to that (and only that) itself.
 * - `--frozen`: the lockfile must match, as in CI and the image.
 * - Heap: no `--max-old-space-size` is baked in. The server holds almost nothing per request,
 *   so a fixed cap would only add a way to crash; the container's memory limit is the cap, and
 *   the image sets `DENO_USE_CGROUPS=1` so V8 sizes its heap from it. Pass `--v8-flags=...` to
 *   this task to bake flags in anyway (a compiled binary ignores `DENO_V8_FLAGS`).
 * - `deno compile` downloads its runtime (denort) the first time; where that is impossible it
 *   honours `DENORT_BIN`. A failure there is reported in one line that says what to do.
 *
 * @example
 * ```sh
 * deno task build                       # dist/swft
 * DENORT_BIN=/opt/denort deno task build  # air-gapped
 * ./dist/swft --version
 * ```
 *
 * @module
 */

/** Where the binary goes, relative to the project root. */
export const OUTPUT = "dist/swft";
/** Folders embedded in the binary; main.ts reads them relative to `import.meta.dirname`. */
export const INCLUDED = ["templates", "static"];

/** The parts of deno.json this task reads. */
export interface DenoConfig {
  version?: string;
  tasks: Record<string, string>;
}

/** Options for {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Extra V8 flags to bake into the binary, e.g. `--max-old-space-size=128`. */
  v8Flags?: string;
  /** `deno compile --target`, e.g. `aarch64-unknown-linux-gnu` (cross-compiling). */
  target?: string;
}

/**
 * The runtime permission flags of the `start` task, minus `--allow-read` (see the module
 * docs), ready for `deno compile`.
 *
 * @example
 * ```ts
 * permissionFlags("deno run --allow-net=0.0.0.0 --allow-read=./static main.ts");
 * // ["--allow-net=0.0.0.0"]
 * ```
 */
export function permissionFlags(startTask: string): string[] {
  const words = startTask.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`Cannot read permissions: the start task must begin with "deno run"`);
  }
  if (words.some((w) => w === "--allow-all" || w === "-A")) {
    throw new Error("Cannot compile with --allow-all: the start task must list its permissions");
  }
  const flags = words.filter((w) => /^--(allow|deny)-[a-z-]+(=|$)/.test(w));
  return flags.filter((f) => !f.startsWith("--allow-read"));
}

/** The full `deno compile` argument list for `config`. */
export function compileArgs(config: DenoConfig, options: CompileOptions = {}): string[] {
  const start = config.tasks.start;
  if (!start) throw new Error("Cannot read permissions: deno.json has no start task");
  return [
    "compile",
    "--frozen",
    "--no-prompt",
    ...permissionFlags(start),
    ...INCLUDED.flatMap((dir) => ["--include", dir]),
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    OUTPUT,
    "main.ts",
  ];
}

/**
 * One line saying why `deno compile` failed and what to do, for the failures users can fix
 * without reading a stack trace; `undefined` for anything else.
 */
export function explainCompileFailure(
  output: string,
  env: { denortBin?: string } = {},
): string | undefined {
  const missing = output.match(/Could not find denort at '([^']*)'/);
  if (missing) {
    return `Cannot build ${OUTPUT}: DENORT_BIN points at ${missing[1]}, which does not exist; ` +
      "set it to a denort binary of this Deno version, or unset it";
  }
  if (/Setting up base binary|denort-[\w-]+\.zip/.test(output) && !env.denortBin) {
    const version = Deno.version.deno;
    return `Cannot build ${OUTPUT}: deno compile could not download its runtime ` +
      `(denort ${version} from dl.deno.land); set DENORT_BIN to a denort ${version} binary, ` +
      "or build the image with --target runtime-deno, which needs no compile step";
  }
  return undefined;
}

async function directoryBytes(path: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for await (const entry of Deno.readDir(path)) {
    const child = `${path}/${entry.name}`;
    if (entry.isDirectory) {
      const sub = await directoryBytes(child);
      bytes += sub.bytes;
      files += sub.files;
    } else if (entry.isFile) {
      bytes += (await Deno.stat(child)).size;
      files++;
    }
  }
  return { bytes, files };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function parseArgs(args: string[]): CompileOptions | string {
  const options: CompileOptions = {};
  for (const arg of args) {
    if (arg.startsWith("--v8-flags=")) options.v8Flags = arg.slice("--v8-flags=".length);
    else if (arg.startsWith("--target=")) options.target = arg.slice("--target=".length);
    else {
      return `Unknown argument "${arg}" (usage: deno task build [--v8-flags=FLAGS] [--target=TRIPLE])`;
    }
  }
  return options;
}

/** Compiles `dist/swft` in the current directory; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  if (typeof options === "string") {
    console.error(options);
    return 2;
  }
  const config: DenoConfig = JSON.parse(await Deno.readTextFile("deno.json"));
  // With a node_modules/ next to deno.json, deno compile embeds all of it.
  if (await exists("node_modules")) {
    console.error(
      `Cannot build ${OUTPUT}: a node_modules/ folder is present and would be embedded whole ` +
        '(this project uses nodeModulesDir "none"); remove it and build again',
    );
    return 1;
  }
  let compileArguments: string[];
  try {
    compileArguments = compileArgs(config, options);
  } catch (error) {
    console.error((error as Error).message);
    return 1;
  }

  let payload = 0;
  for (const dir of INCLUDED) {
    const { bytes, files } = await directoryBytes(dir);
    payload += bytes;
    console.log(`embed ${dir}/: ${files} files, ${bytes} bytes`);
  }
  console.log(`embedded payload: ${payload} bytes (${(payload / 1024).toFixed(1)} KiB)`);
  console.log(`version: ${config.version ?? "unknown"}, deno ${Deno.version.deno}`);
  console.log(`deno ${compileArguments.join(" ")}`);

  await Deno.mkdir("dist", { recursive: true });
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  const result = await new Deno.Command("deno", {
    args: compileArguments,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    const explained = explainCompileFailure(stderr, { denortBin });
    if (explained) {
      console.error(explained);
    } else {
      // Unknown failures (type errors, a stale lockfile...) keep deno's own words.
      console.error(stderr.replace(/\n\s*Stack backtrace:[\s\S]*$/, "").trimEnd());
    }
    return 1;
  }
  console.error(stderr.trimEnd());
  const { size } = await Deno.stat(OUTPUT);
  console.log(`built ${OUTPUT}: ${size} bytes, swft ${config.version ?? "unknown"}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
