/**
 * The docs' shell blocks as data: every ```sh block of a Markdown file with the line it starts
 * on and the reason it cannot run here, when a marker beside it gives one. `deno task test:docs`
 * runs them; tests read them.
 *
 * A marker is an HTML comment on the last non-blank line before the fence:
 *
 * ```markdown
 * <!-- test:docs skip: pushes to ghcr.io, which is not reachable here -->
 * ```
 *
 * @module
 */

/** One shell block of a document. */
export interface DocBlock {
  /** The document, relative to the project root (`docs/release.md`). */
  file: string;
  /** The line of the opening fence, counted from 1. */
  line: number;
  /** The commands, as written between the fences. */
  code: string;
  /** Why it is not run here, from its marker; `undefined` when it runs. */
  skip?: string;
}

/** A marker that says why the block below it is not run: `<!-- test:docs skip: REASON -->`. */
export const SKIP_MARKER: RegExp = /^<!--\s*test:docs skip:\s*(.*?)\s*-->$/;

/** Info strings of a shell block: `sh`, and the two spellings that would otherwise dodge it. */
const SHELL_FENCE = /^```(sh|bash|shell)\s*$/;

/**
 * The shell blocks of `markdown` (the document `file`), in order. Throws one line naming the
 * file, the line and the rule for what the docs must not do: a marker with no block below it or
 * without a reason, a `bash`/`shell` block (write `sh`), or a prompt (`$ `) inside a block
 * (output goes in a `console` or `text` block).
 *
 * @example
 * ```ts
 * shellBlocks("```sh\necho hi\n```\n", "README.md"); // [{ file, line: 1, code: "echo hi\n" }]
 * ```
 */
export function shellBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  let marker: { line: number; reason: string } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trim();
    if (text === "") continue;
    const markerMatch = text.match(SKIP_MARKER);
    if (markerMatch) {
      if (!markerMatch[1]) throw new Error(`${file}:${i + 1}: a test:docs marker needs a reason`);
      marker = { line: i + 1, reason: markerMatch[1] };
      continue;
    }
    const fence = lines[i].match(/^```(\S*)/);
    if (marker && !SHELL_FENCE.test(lines[i])) {
      throw new Error(`${file}:${marker.line}: a test:docs marker must sit right above a sh block`);
    }
    if (!fence) continue;
    const end = closingFence(lines, i);
    if (SHELL_FENCE.test(lines[i])) {
      if (fence[1] !== "sh") {
        throw new Error(`${file}:${i + 1}: write the block as \`\`\`sh, not \`\`\`${fence[1]}`);
      }
      const body = lines.slice(i + 1, end);
      const prompt = body.findIndex((line) => /^\$ /.test(line));
      if (prompt >= 0) {
        throw new Error(
          `${file}:${i + 2 + prompt}: a prompt inside a sh block: put output in a console block`,
        );
      }
      blocks.push({ file, line: i + 1, code: body.join("\n") + "\n", skip: marker?.reason });
    }
    marker = undefined;
    i = end;
  }
  return blocks;
}

function closingFence(lines: string[], open: number): number {
  for (let i = open + 1; i < lines.length; i++) if (/^```\s*$/.test(lines[i])) return i;
  return lines.length;
}

/** The documents whose shell blocks are run: README.md and every docs/*.md, sorted. */
export function documentedFiles(root: string): string[] {
  const docs = [...Deno.readDirSync(`${root}/docs`)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => `docs/${entry.name}`)
    .sort();
  return ["README.md", ...docs];
}

/** Where a block failed, read from the line its ERR trap printed (see {@linkcode blockScript}). */
export interface BlockFailure {
  /** The document's line of the failed command. */
  line: number;
  /** The command, as bash saw it. */
  command: string;
  /** Its exit code. */
  code: number;
}

/** The tag the ERR trap of {@linkcode blockScript} prints its line with. */
const FAILURE_TAG = "test:docs-failure";

/**
 * The script `bash` runs for `block`: its commands as written, after one line that stops at the
 * first failing command (`set -e`, as a reader sees an error and stops) and prints where it was.
 * The line numbers of the block's commands are those of the document.
 */
export function blockScript(block: DocBlock): string {
  const trap = `set -eE; trap 'printf "\\n${FAILURE_TAG} %s %s %s\\n" "$?" "$((LINENO + ${
    block.line - 1
  }))" "$BASH_COMMAND" >&2' ERR`;
  return `${trap}\n${block.code}`;
}

/**
 * The first failure the ERR trap of {@linkcode blockScript} printed in `stderr` (the innermost
 * command, where a command substitution failed), or `undefined`.
 */
export function blockFailure(stderr: string): BlockFailure | undefined {
  const match = stderr.match(new RegExp(`^${FAILURE_TAG} (\\d+) (\\d+) (.*)$`, "m"));
  if (!match) return undefined;
  return { code: Number(match[1]), line: Number(match[2]), command: match[3] };
}

/** `stderr` without the ERR trap's lines: what the commands themselves printed. */
export function withoutFailureLines(stderr: string): string {
  return stderr.split("\n").filter((line) => !line.startsWith(FAILURE_TAG)).join("\n");
}
