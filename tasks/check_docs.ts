/**
 * `deno task check:docs` (part of `deno task check`): the facts a newcomer needs from
 * README.md, each read from the file it describes, so the README cannot lose one, or drift
 * from it, without the check failing:
 *
 * - every variable compose.yaml reads for itself (not for the app) is explained in the
 *   README's Compose section;
 * - the Compose section says how long `healthy` takes (compose.yaml's healthcheck interval);
 * - the README says which `.env` draws its picture, and `.env.example` is that `.env`;
 * - the Start section says how to write `.env` values that every runner reads alike.
 *
 * @module
 */
import { ROOT } from "./_lib/mod.ts";
import { PICTURE } from "./screenshot.ts";

/** The files the facts come from, as text. */
export interface DocsSources {
  /** README.md. */
  readme: string;
  /** compose.yaml. */
  compose: string;
  /** .env.example. */
  envExample: string;
}

/** Reads the project's README.md, compose.yaml and .env.example. */
export function readSources(root: string = ROOT): DocsSources {
  const read = (file: string) => Deno.readTextFileSync(`${root}/${file}`);
  return {
    readme: read("README.md"),
    compose: read("compose.yaml"),
    envExample: read(".env.example"),
  };
}

/** The text of the README section `## title`, up to the next `## `; empty when missing. */
function section(readme: string, title: string): string {
  const start = readme.search(new RegExp(`^## ${title}\\s*$`, "m"));
  if (start < 0) return "";
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * The variables compose.yaml interpolates for Compose itself: every `${NAME...}` except those
 * of the service's `environment:` block that pass the app's own variables through.
 *
 * @example
 * ```ts
 * composeOwnVariables("image: ${SWFT_IMAGE:-swft}\nenvironment:\n  LOG_LEVEL: ${LOG_LEVEL:-}\n");
 * // ["SWFT_IMAGE"]
 * ```
 */
export function composeOwnVariables(compose: string): string[] {
  const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
  const passed = new Set<string>();
  // The environment block: the lines indented deeper than its `environment:` key.
  let indent: number | undefined;
  for (const line of compose.split("\n")) {
    const depth = line.search(/\S/);
    if (depth < 0 || line.trimStart().startsWith("#")) continue;
    if (indent !== undefined && depth <= indent) indent = undefined;
    if (indent !== undefined) {
      const name = /^\s+([A-Z][A-Z0-9_]*): \$\{([A-Z][A-Z0-9_]*)[:}-]/.exec(line);
      if (name && name[1] === name[2]) passed.add(name[1]);
    }
    if (/^\s*environment:\s*$/.test(line)) indent = depth;
  }
  return [...used].filter((name) => !passed.has(name));
}

/** The value `.env` text sets for `name` (last line wins), or undefined. */
function envValue(text: string, name: string): string | undefined {
  return [...text.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].pop()?.[1];
}

/**
 * Every fact README.md lost or got wrong, one line each; empty when all hold.
 *
 * @example
 * ```ts
 * docsProblems(readSources()); // []
 * ```
 */
export function docsProblems(sources: DocsSources): string[] {
  const { readme, compose, envExample } = sources;
  const problems: string[] = [];
  const composeSection = section(readme, "Compose");
  if (!composeSection) problems.push("README.md has no Compose section");
  for (const name of composeOwnVariables(compose)) {
    if (!composeSection.includes(`\`${name}\``)) {
      problems.push(
        `README.md's Compose section does not say what ${name} is (compose.yaml reads it)`,
      );
    }
  }
  const interval = /^\s+healthcheck:\s*\n(?:\s+.*\n)*?\s+interval:\s*(\d+)s/m.exec(compose)?.[1];
  if (!interval) {
    problems.push("compose.yaml has no healthcheck interval in seconds to document");
  } else if (
    !new RegExp(`\`healthy\` takes about ${interval} s`).test(composeSection.replace(/\s+/g, " "))
  ) {
    problems.push(
      `README.md's Compose section does not say that \`healthy\` takes about ${interval} s ` +
        "(compose.yaml's healthcheck interval)",
    );
  }
  const color = envValue(envExample, "BACKGROUND_COLOR");
  if (color !== PICTURE.color) {
    problems.push(
      `.env.example sets BACKGROUND_COLOR=${color ?? ""}, but the README's picture ` +
        `(deno task screenshot) is BACKGROUND_COLOR=${PICTURE.color}`,
    );
  }
  const afterPicture = readme.split(PICTURE.out)[1]?.split(/\n\s*\n/)[1] ?? "";
  if (
    !afterPicture.includes(`BACKGROUND_COLOR=${PICTURE.color}`) ||
    !afterPicture.includes("cp .env.example .env")
  ) {
    problems.push(
      `README.md does not say under its picture which .env draws it ` +
        `(cp .env.example .env: BACKGROUND_COLOR=${PICTURE.color})`,
    );
  }
  const start = section(readme, "Start").replace(/\s+/g, " ");
  if (
    !/unquoted/.test(start) || !/BACKGROUND_COLOR=#[0-9a-f]{6}/.test(start) || !/warns/.test(start)
  ) {
    problems.push(
      "README.md's Start section does not say how to write .env values every runner reads alike " +
        "(unquoted, a hex colour such as BACKGROUND_COLOR=#1e90ff, and that deno task dev warns)",
    );
  }
  return problems;
}

if (import.meta.main) {
  const problems = docsProblems(readSources());
  for (const problem of problems) console.error(`check:docs: ${problem}`);
  Deno.exit(problems.length === 0 ? 0 : 1);
}
