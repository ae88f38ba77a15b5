/**
 * Runs `deno` with arguments to completion, as the tests of tasks and modes need.
 *
 * @module
 */

/** Options of {@linkcode runDeno}. */
export interface RunDenoOptions {
  cwd: string;
  env?: Record<string, string>;
}

/** Run `deno ...args` with no input and colours off; resolves to its exit code and output. */
export async function runDeno(args: string[], options: RunDenoOptions) {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
