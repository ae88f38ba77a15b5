/**
 * The rebuild-cache probe: the file to change (one the build copies after its dependency step)
 * and the change (content, not mtime: mtime alone does not invalidate Docker's cache). The
 * context's copy is the kernel's (tasks/_lib/build_context.ts).
 */
import { parseDockerIgnore } from "../_lib/dockerignore.ts";
import { type Dockerfile, expandArgs, stageChain } from "./dockerfile.ts";

interface CopyRule {
  sources: string[];
  /**
   * A RUN follows this COPY and a later COPY brings more of the context:
   * the classic "manifests, install, then sources" dependency step.
   */
  dependency: boolean;
}

function contextCopies(
  dockerfile: Dockerfile,
  values: Record<string, string | undefined>,
): CopyRule[] {
  const rules: CopyRule[] = [];
  for (const stage of dockerfile.stages) {
    const list = stage.instructions;
    for (const [i, instruction] of list.entries()) {
      // A copy from another stage or image reads nothing of the context.
      if (!/^(COPY|ADD)$/.test(instruction.keyword) || "from" in instruction.flags) {
        continue;
      }
      let words: string[];
      const json = instruction.args.replace(/^(--\S+\s+)*/, "");
      if (json.startsWith("[")) {
        try {
          words = JSON.parse(json);
        } catch {
          words = json.split(/\s+/);
        }
      } else {
        words = json.split(/\s+/);
      }
      const sources = words.slice(0, -1).map((w) => expandArgs(w, values));
      const rest = list.slice(i + 1);
      const next = rest.find((n) => !/^(ENV|ARG|WORKDIR|LABEL)$/.test(n.keyword));
      // sources may follow in this stage or in a stage built on it (deps -> app)
      const descendants = dockerfile.stages.filter((other) =>
        other.index > stage.index && stageChain(dockerfile, other).includes(stage)
      );
      const later = [...rest, ...descendants.flatMap((d) => d.instructions)];
      const laterCopy = later.some((n) => /^(COPY|ADD)$/.test(n.keyword) && !("from" in n.flags));
      rules.push({ sources, dependency: next?.keyword === "RUN" && laterCopy });
    }
  }
  return rules;
}

function matches(source: string, file: string): boolean {
  const clean = source.replace(/^\.?\/+/, "");
  if (clean === "" || clean === ".") return true;
  return parseDockerIgnore(clean).excludes(file);
}

const SOURCE_EXT = /\.(ts|tsx|js|mjs|jsx|py|go|rs|rb|java|kt|c|cc|cpp|h|php|cs|eta|html|css)$/;

/**
 * Picks the file the probe changes: one that the build copies, but not as part of a
 * "manifest COPY then RUN" dependency step, preferring an entry point (main.*, server.*).
 */
export function pickProbeFile(
  dockerfile: Dockerfile,
  files: string[],
  values: Record<string, string | undefined> = {},
): string | undefined {
  const rules = contextCopies(dockerfile, values);
  const depRules = rules.filter((r) => r.dependency);
  const candidates = files.filter((f) =>
    f !== ".dockerignore" &&
    rules.some((r) => r.sources.some((s) => matches(s, f))) &&
    !depRules.some((r) => r.sources.some((s) => s !== "." && matches(s, f)))
  );
  const score = (f: string) =>
    (SOURCE_EXT.test(f) ? 2 : 0) + (/(^|\/)(main|server|app|index|mod)\.[a-z]+$/.test(f) ? 1 : 0) -
    f.split("/").length * 0.01;
  return candidates.sort((a, b) => score(b) - score(a) || a.localeCompare(b))[0];
}

/** The text appended to change a file's content without changing what it does. */
export function probeSuffix(path: string, stamp: string): string {
  if (/\.(ts|tsx|js|mjs|jsx|go|rs|java|kt|c|cc|cpp|h|cs|css)$/.test(path)) {
    return path.endsWith(".css")
      ? `\n/* verify cache probe ${stamp} */\n`
      : `\n// verify cache probe ${stamp}\n`;
  }
  if (/\.(py|rb|sh|ya?ml|toml)$/.test(path)) return `\n# verify cache probe ${stamp}\n`;
  if (/\.(html|eta)$/.test(path)) return `\n<!-- verify cache probe ${stamp} -->\n`;
  return "\n";
}
