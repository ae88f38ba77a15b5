/**
 * Reads cache hits from `docker build` output, for both builders: the legacy builder's
 * "Step N/M : ..." followed by " ---> Using cache", and BuildKit's plain progress
 * "#N [stage i/n] ..." followed by "#N CACHED".
 */

/** One build step and whether Docker reused it from cache (undefined for FROM). */
export interface BuildStep {
  /** The stage, as the builder names it. */
  stage: string;
  /** The instruction as the builder printed it. */
  instruction: string;
  /** True when reused from cache; undefined for FROM. */
  cached?: boolean;
}

/**
 * Parses build output into steps in Dockerfile order.
 *
 * @example parseBuildLog("Step 1/2 : FROM x\nStep 2/2 : RUN y\n ---> Using cache\n")[1].cached // true
 */
export function parseBuildLog(output: string): BuildStep[] {
  const lines = output.split(/\r?\n/);
  if (lines.some((l) => /^Step \d+\/\d+ : /.test(l))) return parseLegacy(lines);
  return parseBuildKit(lines);
}

function isFrom(instruction: string): boolean {
  return /^FROM\s/i.test(instruction);
}

function parseLegacy(lines: string[]): BuildStep[] {
  const steps: BuildStep[] = [];
  let stage = -1;
  for (const line of lines) {
    const step = /^Step \d+\/\d+ : (.*)$/.exec(line);
    if (step) {
      const instruction = step[1].trim();
      if (isFrom(instruction)) stage++;
      // global ARGs before the first FROM are not build steps
      if (stage < 0) continue;
      steps.push({
        stage: String(stage),
        instruction,
        cached: isFrom(instruction) ? undefined : false,
      });
    } else if (/^ ---> Using cache/.test(line) && steps.length > 0) {
      steps[steps.length - 1].cached = true;
    }
  }
  return steps;
}

function parseBuildKit(lines: string[]): BuildStep[] {
  const byId = new Map<string, BuildStep & { order: [string, number] }>();
  for (const line of lines) {
    const head = /^#(\d+) \[([^\]]*?)\s*(\d+)\/(\d+)\] (.*)$/.exec(line);
    if (head) {
      const [, id, stage, index, , instruction] = head;
      byId.set(id, {
        stage: stage || "0",
        instruction: instruction.trim(),
        cached: isFrom(instruction) ? undefined : false,
        order: [stage, Number(index)],
      });
      continue;
    }
    const cached = /^#(\d+) CACHED/.exec(line);
    if (cached && byId.has(cached[1])) byId.get(cached[1])!.cached = true;
  }
  return [...byId.values()]
    .sort((a, b) => a.order[0].localeCompare(b.order[0]) || a.order[1] - b.order[1])
    .map(({ stage, instruction, cached }) => ({ stage, instruction, cached }));
}

/** The verdict of the rebuild-cache check. */
export interface CacheVerdict {
  /** True when the dependency layer came from cache. */
  ok: boolean;
  /** One line for people. */
  detail: string;
  /** Steps reused from cache. */
  cached: number;
  /** Steps run again. */
  rebuilt: number;
  /**
   * Not ok because a dependency step ran again (rather than because nothing was rebuilt or
   * there are no steps): the case a second probe can settle (see the rebuild-cache check).
   */
  dependencyRerun: boolean;
}

/**
 * After a source change, the dependency layer must come from cache: some RUN that follows
 * a context COPY/ADD in its stage (the install step) was reused, and something was rebuilt
 * (otherwise the changed file is not part of the build and the probe proves nothing).
 */
export function judgeCacheReuse(steps: BuildStep[]): CacheVerdict {
  let cached = 0;
  let rebuilt = 0;
  const reusedInstalls: string[] = [];
  /** Dependency RUNs that ran again, each with whether the context copy before it was cached. */
  const rerunInstalls: { instruction: string; copyCached: boolean }[] = [];
  const lastContextCopy = new Map<string, BuildStep>();
  let firstRebuilt: string | undefined;
  for (const step of steps) {
    if (step.cached === true) cached++;
    if (step.cached === false) {
      rebuilt++;
      firstRebuilt ??= step.instruction;
    }
    const copy = lastContextCopy.get(step.stage);
    if (/^(COPY|ADD)\s/i.test(step.instruction) && !/--from[= ]/i.test(step.instruction)) {
      lastContextCopy.set(step.stage, step);
    } else if (/^RUN\s/i.test(step.instruction) && copy) {
      if (step.cached) reusedInstalls.push(step.instruction);
      else rerunInstalls.push({ instruction: step.instruction, copyCached: copy.cached === true });
    }
  }
  const short = (s: string) => (s.length > 60 ? s.slice(0, 57) + "..." : s);
  const verdict = (ok: boolean, detail: string, dependencyRerun = false): CacheVerdict => ({
    ok,
    detail,
    cached,
    rebuilt,
    dependencyRerun,
  });
  if (steps.length === 0) return verdict(false, "no build steps found in the build output");
  if (rebuilt === 0) {
    return verdict(false, "nothing was rebuilt: the changed file is not part of the build");
  }
  if (reusedInstalls.length === 0) {
    // the one whose copy came from cache first: the engine, not the order, ran it again
    const rerun = rerunInstalls.find((r) => r.copyCached) ?? rerunInstalls[0];
    const why = rerun === undefined
      ? `first rebuilt: ${short(firstRebuilt ?? "")}`
      : `${short(rerun.instruction)} ran again, after a copy that ${
        rerun.copyCached ? "came from cache" : "was rebuilt"
      }`;
    return verdict(false, `no dependency step came from cache; ${why}`, true);
  }
  return verdict(
    true,
    `${cached} steps from cache incl. ${short(reusedInstalls[0])}; ${rebuilt} rebuilt`,
  );
}
