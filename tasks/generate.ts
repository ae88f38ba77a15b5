/**
 * `deno task generate`: writes every list that derives from config/ and the policy (the
 * permission flags, .env.example, compose.yaml, the ConfigMap, the policy's ceiling, the
 * admission YAMLs, README's table). `--check` writes nothing and exits 1 naming each file
 * that differs; `deno task check` runs it.
 *
 * @module
 */
import { parseFlags, progress, ROOT, runTask } from "./_lib/mod.ts";
import { generate, GenerateError } from "./generate/mod.ts";

const USAGE = `Usage: deno task generate [--check]

Writes every list derived from config/ (the schema, the permissions, the deploy values) and
deploy/policy/swft.cue. Edit those sources, never the generated lists.

  --check   write nothing; exit 1 naming each file that differs`;

/**
 * Runs the generator; exit 1 under `--check` when a file differs, or when a file lacks the part
 * the generator writes (one line naming it and the fix).
 */
export function main(args: string[], root: string = ROOT): Promise<number> {
  const { values } = parseFlags(args, { check: { type: "boolean", default: false } });
  if (values.help) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  let differences;
  try {
    differences = generate(root, { check: values.check });
  } catch (error) {
    if (!(error instanceof GenerateError)) throw error;
    progress("generate", error.message);
    return Promise.resolve(1);
  }
  for (const { file, source } of differences) {
    progress(
      "generate",
      values.check
        ? `${file} differs from its source, ${source}: run deno task generate (edit the source)`
        : `wrote ${file}`,
    );
  }
  return Promise.resolve(values.check && differences.length ? 1 : 0);
}

if (import.meta.main) runTask("generate", main);
