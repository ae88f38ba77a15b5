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
import { type DenoJson, parseFlags, run, runTask, startTask, taskCommand } from "./_lib/mod.ts";

/** Where the binary goes, relative to the project root. */
export const OUTPUT = "dist/swft";
/** Folders embedded in the binary; main.ts reads them relative to `import.meta.dirname`. */
export const INCLUDED = ["templates", "static"];

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
export function permissionFlags(start: string): string[] {
  return startTask(start).permissions.filter((f) => !f.startsWith("--allow-read"));
}

/** The full `deno compile` argument list for `config`. */
export function compileArgs(config: DenoJson, options: CompileOptions = {}): string[] {
  const start = taskCommand("start", config);
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
      `(denort ${version}, a download from Deno's release server); set DENORT_BIN to a denort ${version} binary, ` +
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

const HELP = `Usage: deno task build [--v8-flags=FLAGS] [--target=TRIPLE]

Compiles main.ts into ${OUTPUT} with templates/ and static/ embedded and the start task's
permissions baked in. DENORT_BIN names a local denort where it cannot be downloaded.
--target cross-compiles, e.g. aarch64-unknown-linux-gnu (the Dockerfile maps TARGETARCH).
`;

/** Compiles `dist/swft` in the current directory; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    "v8-flags": { type: "string" },
    target: { type: "string" },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const config: DenoJson = JSON.parse(await Deno.readTextFile("deno.json"));
  // With a node_modules/ next to deno.json, deno compile embeds all of it.
  if (await Deno.lstat("node_modules").then(() => true, () => false)) {
    console.error(
      `Cannot build ${OUTPUT}: a node_modules/ folder is present and would be embedded whole ` +
        '(this project uses nodeModulesDir "none"); remove it and build again',
    );
    return 1;
  }
  let compileArguments: string[];
  try {
    compileArguments = compileArgs(config, { v8Flags: values["v8-flags"], target: values.target });
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
  const result = await run("deno", compileArguments, { env: { NO_COLOR: "1" } });
  if (result.code !== 0) {
    // Unknown failures (type errors, a stale lockfile...) keep deno's own words.
    console.error(
      explainCompileFailure(result.stderr, { denortBin }) ??
        result.stderr.replace(/\n\s*Stack backtrace:[\s\S]*$/, "").trimEnd(),
    );
    return 1;
  }
  console.error(result.stderr.trimEnd());
  const { size } = await Deno.stat(OUTPUT);
  console.log(`built ${OUTPUT}: ${size} bytes, swft ${config.version ?? "unknown"}`);
  return 0;
}

if (import.meta.main) runTask("build", main);
