/**
 * `.dockerignore` matching with Docker's rules: patterns are relative to the context root,
 * `*` and `?` stay within one path segment, `**` spans segments, `!` re-includes, the last
 * matching pattern wins, and a pattern that matches a directory excludes what is inside.
 */

interface Rule {
  regex: RegExp;
  negate: boolean;
}

function clean(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

function globToRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        // "**/" matches zero or more whole segments; a trailing "**" matches anything
        i++;
        if (pattern[i + 1] === "/") {
          i++;
          out += "(?:.*/)?";
        } else {
          out += ".*";
        }
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) {
        out += "\\[";
      } else {
        let cls = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (cls.startsWith("^") || cls.startsWith("!")) cls = "^" + cls.slice(1);
        out += `[${cls}]`;
        i = end;
      }
    } else if (c === "\\" && i + 1 < pattern.length) {
      i++;
      out += pattern[i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${out}$`);
}

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
 * @example parseDockerIgnore(".git\n.env\n").excludes(".git/HEAD") // true
 */
export function parseDockerIgnore(text: string): DockerIgnore {
  const rules: Rule[] = [];
  const patterns: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    const pattern = clean(line);
    if (pattern === "") continue;
    patterns.push(raw.trim());
    rules.push({ regex: globToRegex(pattern), negate });
  }
  return {
    patterns,
    excludes(path: string): boolean {
      const target = clean(path);
      const segments = target.split("/");
      let excluded = false;
      for (const rule of rules) {
        // a rule matches the path itself or any directory that contains it
        let matched = false;
        for (let n = segments.length; n >= 1 && !matched; n--) {
          matched = rule.regex.test(segments.slice(0, n).join("/"));
        }
        if (matched) excluded = !rule.negate;
      }
      return excluded;
    },
  };
}
