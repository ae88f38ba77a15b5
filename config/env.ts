/**
 * Reading the environment without loading the configuration schema (zod): `main.ts
 * healthcheck` runs every few seconds in the image and needs only PORT and HOST.
 *
 * @module
 */

/** A map of environment variables, as `Deno.env.get` would return them. */
export type Env = Partial<Record<string, string | undefined>>;

/** Thrown for a bad configuration: one entry in {@linkcode ConfigError.problems} per variable. */
export class ConfigError extends Error {
  /** One line per problem, such as `PORT must be an integer from 0 to 65535, got "abc"`. */
  readonly problems: readonly string[];

  /** An error listing `problems`, one per variable. */
  constructor(problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Read `names` from the process environment, each by name, so it works under
 * `--allow-env=PORT,HOST,...`.
 *
 * @throws {ConfigError} naming each variable whose bytes are not valid UTF-8
 */
export function readVariables(names: readonly string[]): Env {
  const env: Env = {};
  const problems: string[] = [];
  for (const name of names) {
    try {
      env[name] = Deno.env.get(name);
    } catch (error) {
      // Deno refuses to decode such a value, and its message would echo every byte.
      if (!(error instanceof Deno.errors.InvalidData)) throw error;
      problems.push(`${name} is not valid UTF-8`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return env;
}

/** The longest part of a rejected value that an error message echoes. */
const ECHO_LIMIT = 40;

/**
 * A rejected value for an error message: quoted, and cut when long, as a value may be huge
 * or hostile (10 KB in must not print 10 KB).
 */
export function quoteValue(value: string): string {
  if (value.length <= ECHO_LIMIT) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, ECHO_LIMIT))}... (${value.length} characters)`;
}
