/**
 * The generator behind `deno task generate`: renders every list that derives from the
 * configuration schema, the permission set and the policy ({@linkcode TARGETS}), and writes
 * the files that differ, or, with `check`, only names them.
 *
 * @example
 * ```ts
 * import { generate } from "./mod.ts";
 * const stale = generate(".", { check: true }); // [] when every list is up to date
 * ```
 *
 * @module
 */
import { GenerateError } from "./regions.ts";
import { TARGETS } from "./targets.ts";

export { GenerateError, TARGETS };

/** A generated file whose text differs from what the generator renders. */
export interface Difference {
  /** The file, from the project root. */
  file: string;
  /** What a person edits instead of it. */
  source: string;
}

/** Options of {@linkcode generate}. */
export interface GenerateOptions {
  /** Only compare: write nothing. */
  check?: boolean;
}

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/**
 * Renders every target in the project at `root` and writes each file that differs (none with
 * `check`); returns those files, in the order written.
 *
 * @throws {GenerateError} naming the file when a target cannot find the part it writes
 */
export function generate(root: string, options: GenerateOptions = {}): Difference[] {
  const rendered = new Map<string, string>();
  const read = (file: string) => rendered.get(file) ?? readOrEmpty(`${root}/${file}`);
  const differences: Difference[] = [];
  for (const target of TARGETS) {
    for (const [file, text] of Object.entries(target.render(read))) {
      if (text === read(file)) continue;
      rendered.set(file, text);
      differences.push({ file, source: target.source });
    }
  }
  // Written only once every target rendered: a target that fails leaves every file as it was.
  if (!options.check) {
    for (const { file } of differences) {
      Deno.writeTextFileSync(`${root}/${file}`, rendered.get(file)!);
    }
  }
  return differences;
}
