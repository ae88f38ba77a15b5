/**
 * `.dockerignore` matching, by `@balena/dockerignore` (a port of Docker's own matcher):
 * patterns are relative to the context root, `*` and `?` stay within one path segment, `**`
 * spans segments, `!` re-includes, the last matching pattern wins, and a pattern that matches
 * a directory excludes what is inside.
 */
import { dockerignore } from "./deps.ts";

/** Parsed `.dockerignore`: ask it whether a context path is left out of the build. */
export interface DockerIgnore {
  /** True when `path` (relative to the context, `/`-separated) is excluded. */
  excludes(path: string): boolean;
  /** The effective patterns, for messages. */
  patterns: string[];
}

/**
 * Parses the text of a `.dockerignore` file.
 *
 * @example
 * ```ts
 * parseDockerIgnore(".git\n.env\n").excludes(".git/HEAD"); // true
 * ```
 */
export function parseDockerIgnore(text: string): DockerIgnore {
  const patterns = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const matcher = dockerignore({ ignorecase: false }).add(patterns);
  return { patterns, excludes: (path) => matcher.ignores(path.replace(/^\.?\/+/, "")) };
}
