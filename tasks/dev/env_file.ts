/**
 * `.env` as `deno task dev` reads it: the way `docker run --env-file` does, so one file means
 * the same under dev, in a container, and (for every value these rules call portable) under
 * Compose v1 and v2. Each line the runners would read differently gets a warning naming the
 * variable and the spelling that works everywhere.
 *
 * Why by hand, not with Deno's `--env-file` or a dotenv library: those treat an unquoted `#` as
 * the start of a comment, so `BACKGROUND_COLOR=#1e90ff` would be dropped, while Docker and both
 * Compose versions keep it. What each runner does, from its parser:
 *
 * | value after `=`     | docker run --env-file | Compose v1 (python-dotenv) | Compose v2 (compose-go) |
 * | ------------------- | --------------------- | -------------------------- | ----------------------- |
 * | `#1e90ff`           | `#1e90ff`             | `#1e90ff`                  | `#1e90ff`               |
 * | `"#1e90ff"`         | `"#1e90ff"` (quotes)  | `#1e90ff`                  | `#1e90ff`               |
 * | `Hello #1`          | `Hello #1`            | `Hello` (comment)          | `Hello` (comment)       |
 * | `a $HOME`, `${HOME}` | literal              | `${HOME}` replaced         | both replaced           |
 * | ` a ` (spaces)      | kept                  | trimmed                    | trimmed                 |
 * | `export A=1`, `A =1` | refuses the file     | `A=1`                      | `A=1`                   |
 *
 * @module
 */

/** One `NAME=value` line. */
export interface EnvVariable {
  /** The variable's name. */
  name: string;
  /** The value, exactly as written after the first `=`. */
  value: string;
  /** 1-based line number in the file. */
  line: number;
}

/** A parsed `.env`: its variables in order, and one warning per line the runners disagree on. */
export interface EnvFile {
  /** The variables, in file order (a later line wins, as in Docker). */
  variables: EnvVariable[];
  /** One line each: `.env line N: NAME ...: write NAME=...`. */
  warnings: string[];
}

/**
 * Why the runners would read `value` differently, with the spelling that works everywhere, or
 * undefined when docker run, Compose v1 and Compose v2 all read it as written.
 *
 * @example
 * ```ts
 * portabilityProblem("BACKGROUND_COLOR", '"#1e90ff"');
 * // 'BACKGROUND_COLOR is quoted, and docker run --env-file keeps the quotes (Compose drops
 * //  them): write BACKGROUND_COLOR=#1e90ff'
 * ```
 */
export function portabilityProblem(name: string, value: string): string | undefined {
  const quote = /^["']/.exec(value)?.[0];
  if (quote) {
    const inner = value.length > 1 && value.endsWith(quote) ? value.slice(1, -1) : value.slice(1);
    return `${name} is quoted, and docker run --env-file keeps the quotes (Compose drops them): ` +
      `write ${name}=${inner}`;
  }
  if (/^\s|\s$/.test(value)) {
    return `${name} starts or ends with a space, which docker run --env-file keeps and Compose ` +
      `drops: write ${name}=${value.trim()}`;
  }
  if (/\s#/.test(value)) {
    return `${name} holds " #", where Compose starts a comment (docker run --env-file keeps it): ` +
      `write ${name}=${value.replace(/\s+#/g, "#")}`;
  }
  if (value.includes("$")) {
    return `${name} holds "$", where Compose puts in a variable (docker run --env-file keeps ` +
      `it): leave "$" out of .env, or set ${name} in the shell`;
  }
  return undefined;
}

/**
 * Parses `.env` text by `docker run --env-file`'s rules: leading blanks ignored, a line that
 * starts with `#` is a comment, `NAME=value` takes everything after the first `=` literally,
 * and a bare `NAME` means "from the environment" (which the server inherits anyway).
 *
 * @example
 * ```ts
 * parseEnvFile("# colour\nBACKGROUND_COLOR=#1e90ff\n").variables;
 * // [{ name: "BACKGROUND_COLOR", value: "#1e90ff", line: 2 }]
 * ```
 */
export function parseEnvFile(text: string): EnvFile {
  const variables: EnvVariable[] = [];
  const warnings: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  lines.forEach((raw, index) => {
    const number = index + 1;
    const line = raw.replace(/\r$/, "").trimStart();
    if (line === "" || line.startsWith("#")) return;
    const equals = line.indexOf("=");
    const name = equals < 0 ? line : line.slice(0, equals);
    if (name === "" || /\s/.test(name)) {
      // Docker refuses the whole file for such a line; dev names it and goes on without it.
      const fixed = name.replace(/^export\s+/, "").trim();
      warnings.push(
        `.env line ${number}: "${name}" is not a variable name, and docker run --env-file ` +
          `refuses the file for it: write ${fixed || "NAME"}=VALUE`,
      );
      return;
    }
    if (equals < 0) return;
    const value = line.slice(equals + 1);
    variables.push({ name, value, line: number });
    const problem = portabilityProblem(name, value);
    if (problem) warnings.push(`.env line ${number}: ${problem}`);
  });
  return { variables, warnings };
}

/**
 * The variables dev gives the server: the file's, except those the shell already sets (the
 * shell wins, as with Compose and Deno's `--env-file`). A later line wins over an earlier one.
 *
 * @example
 * ```ts
 * serverEnv(parseEnvFile("PORT=3000\nHOST=::1\n"), (name) => name === "PORT"); // { HOST: "::1" }
 * ```
 */
export function serverEnv(
  file: EnvFile,
  inShell: (name: string) => boolean,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, value } of file.variables) {
    if (!inShell(name)) env[name] = value;
  }
  return env;
}
