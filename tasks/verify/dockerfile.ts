/** The Dockerfile as verify sees it (parsed by `dockerfile-ast`) and the lint rules it applies. */
import { DockerfileParser } from "../_lib/deps.ts";
import type { DockerIgnore } from "../_lib/dockerignore.ts";

/** One instruction after joining continuation lines. */
export interface Instruction {
  /** Upper-case keyword (RUN, COPY...). */
  keyword: string;
  /** The arguments on one line, without the flags. */
  args: string;
  /** Its flags by name, such as `from` for `COPY --from=app` (`null`: a flag without a value). */
  flags: Record<string, string | null>;
  /** 1-based line where it starts. */
  line: number;
}

/** One build stage: its FROM and the instructions that follow it. */
export interface Stage {
  /** Position in the file, from 0. */
  index: number;
  /** The `AS` name, lower-cased. */
  name?: string;
  /** The FROM argument as written (may contain `${ARG}`). */
  from: string;
  /** The instructions after its FROM. */
  instructions: Instruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  /** The build stages in file order. */
  stages: Stage[];
}

/**
 * Parses Dockerfile text with `dockerfile-ast` (parser directives, comments, continuations,
 * heredocs, JSON forms) into stages and their instructions.
 *
 * @example
 * ```ts
 * parseDockerfile("FROM deno:2.9.6 AS builder\nRUN true\n").stages[0].name; // "builder"
 * ```
 */
export function parseDockerfile(text: string): Dockerfile {
  const ast = DockerfileParser.parse(text);
  const globalArgs: Record<string, string | undefined> = {};
  for (const arg of ast.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) globalArgs[property.getName()] = property.getValue() ?? undefined;
  }
  const stages: Stage[] = ast.getFROMs().map((from, index) => ({
    index,
    name: from.getBuildStage()?.toLowerCase() ?? undefined,
    from: from.getImage() ?? "",
    instructions: [],
  }));
  let stage = -1;
  for (const instruction of ast.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    if (keyword === "FROM") stage++;
    else if (stage >= 0) {
      stages[stage].instructions.push({
        keyword,
        // the arguments without comment lines and continuations, one space apart
        args: instruction.getArguments().map((a) => a.getValue()).join(" "),
        flags: flagsOf(instruction),
        line: instruction.getRange().start.line + 1,
      });
    }
  }
  return { globalArgs, stages };
}

// COPY, ADD, RUN, HEALTHCHECK and FROM take flags (dockerfile-ast's ModifiableInstruction).
function flagsOf(instruction: object): Record<string, string | null> {
  const flags: Record<string, string | null> = {};
  if (!("getFlags" in instruction) || typeof instruction.getFlags !== "function") return flags;
  for (const flag of instruction.getFlags() as { getName(): string; getValue(): string | null }[]) {
    flags[flag.getName().toLowerCase()] = flag.getValue();
  }
  return flags;
}

function parseArg(args: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const word of args.split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf("=");
    if (eq < 0) out[word] = undefined;
    else out[word.slice(0, eq)] = word.slice(eq + 1).replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

/**
 * Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`; names without a value
 * are collected in `missing`.
 */
export function expandArgs(
  text: string,
  values: Record<string, string | undefined>,
  missing: string[] = [],
): string {
  return text.replace(
    /\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))/g,
    (_all, braced: string, op: string, word: string, bare: string) => {
      const name = braced ?? bare;
      const value = values[name];
      if (op === "-") return value ? value : word;
      if (op === "+") return value ? word : "";
      if (value === undefined) missing.push(name);
      return value ?? "";
    },
  );
}

/** Finds a stage by name (case-insensitive) or index. */
export function findStage(dockerfile: Dockerfile, name: string): Stage | undefined {
  const lower = name.toLowerCase();
  return dockerfile.stages.find((s) => s.name === lower) ??
    (/^\d+$/.test(name) ? dockerfile.stages[Number(name)] : undefined);
}

/** The stage and its ancestors that are stages of this file, base first. */
export function stageChain(dockerfile: Dockerfile, stage: Stage): Stage[] {
  const chain = [stage];
  let current = stage;
  for (;;) {
    const parent = dockerfile.stages.find((s) =>
      s.index < current.index && s.name === current.from.toLowerCase()
    );
    if (!parent || chain.includes(parent)) break;
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}

/**
 * The builder stage of `stage`: of the stages of this file that it (or a stage it is built on)
 * copies files from (`COPY --from=NAME`), the last one in the file, the one that made what it
 * ships (for SWFT's `runtime-deno`, `app`: it also copies Deno's binary from `deps`).
 * `undefined` when it copies from none.
 *
 * @example
 * ```ts
 * const file = parseDockerfile("FROM d AS app\nFROM r AS run\nCOPY --from=app /app /app\n");
 * builderStageOf(file, findStage(file, "run")!); // "app"
 * ```
 */
export function builderStageOf(dockerfile: Dockerfile, stage: Stage): string | undefined {
  let builder: Stage | undefined;
  for (const own of stageChain(dockerfile, stage)) {
    for (const instruction of own.instructions) {
      if (instruction.keyword !== "COPY") continue;
      const from = instruction.flags.from?.toLowerCase();
      const source = dockerfile.stages.find((s) => s.name === from && s.index < own.index);
      if (source && (!builder || source.index > builder.index)) builder = source;
    }
  }
  return builder?.name;
}

/**
 * verify's default `--builder-target` for `target` in the Dockerfile at `path`: its builder
 * stage ({@linkcode builderStageOf}), else `builder` (also when the file cannot be read: the
 * dockerfile-lint check then says why).
 */
export function defaultBuilderTarget(path: string, target: string): string {
  try {
    const dockerfile = parseDockerfile(Deno.readTextFileSync(path));
    const stage = findStage(dockerfile, target);
    return (stage && builderStageOf(dockerfile, stage)) ?? "builder";
  } catch {
    return "builder";
  }
}

const FLOATING_TAGS = new Set([
  "latest",
  "stable",
  "edge",
  "nightly",
  "lts",
  "current",
  "rolling",
  "main",
  "master",
  "dev",
  "next",
  "canary",
]);

/** Splits an image reference into its repository, tag and digest. */
export function parseImageRef(ref: string): { repository: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    return { repository: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  }
  return { repository: rest, digest };
}

/** Lint findings plus the facts verify reports. */
export interface LintResult {
  /** One line per broken rule; empty when the Dockerfile passes. */
  problems: string[];
  /** Resolved base image of every stage that does not build on another stage. */
  bases: { stage: string; image: string }[];
  /** The target stage's last USER. */
  user?: string;
  /** The target stage's HEALTHCHECK command. */
  healthcheck?: string;
  /** The target stage's EXPOSEd ports. */
  exposed: number[];
}

/** Options for {@linkcode lintDockerfile}. */
export interface LintOptions {
  /** The stage that becomes the image. */
  target: string;
  /** The stage that must build (the builder). */
  builderTarget?: string;
  /** `--build-arg` values, which override the ARG defaults. */
  buildArgs?: Record<string, string>;
  /** Parsed `.dockerignore`, or undefined when the context has none. */
  dockerignore?: DockerIgnore;
  /** Base images must be pinned by digest. */
  requireDigest?: boolean;
}

function isRootUser(user: string): boolean {
  const name = user.split(":")[0].trim();
  return name === "" || name === "0" || name === "root";
}

/**
 * Applies verify's rules: every base image pinned (a tag that is not floating such as
 * `latest`, or a digest), ARG-defaulted FROMs resolvable, the target stage sets an explicit
 * non-root USER, a HEALTHCHECK and an EXPOSE, and `.dockerignore` leaves out `.env` and `.git`.
 *
 * The USER rule is the strict reading on purpose: a non-root default inherited from a base
 * image (distroless `:nonroot`) changes silently when the base changes; the built image's
 * actual user is proven separately by the runtime-user-nonroot check.
 */
export function lintDockerfile(dockerfile: Dockerfile, options: LintOptions): LintResult {
  const problems: string[] = [];
  const values: Record<string, string | undefined> = { ...dockerfile.globalArgs };
  for (const [key, value] of Object.entries(options.buildArgs ?? {})) {
    if (key in values) values[key] = value;
  }
  if (dockerfile.stages.length === 0) problems.push("no FROM instruction");
  const bases = lintBases(dockerfile, values, options, problems);
  let found: TargetSettings = { exposed: [] };
  const target = findStage(dockerfile, options.target);
  if (!target) {
    problems.push(`target stage "${options.target}" not found`);
  } else {
    found = targetSettings(stageChain(dockerfile, target), values, options.buildArgs);
    problems.push(...targetProblems(options.target, found));
  }
  if (options.builderTarget && !findStage(dockerfile, options.builderTarget)) {
    problems.push(`builder stage "${options.builderTarget}" not found`);
  }
  problems.push(...dockerignoreProblems(options.dockerignore));
  const { user, healthcheck, exposed } = found;
  return { problems, bases, user, healthcheck, exposed };
}

/** The base images of the stages, each checked for a pin; problems are added to `problems`. */
function lintBases(
  dockerfile: Dockerfile,
  values: Record<string, string | undefined>,
  options: LintOptions,
  problems: string[],
): LintResult["bases"] {
  const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
  const bases: LintResult["bases"] = [];
  for (const stage of dockerfile.stages) {
    const label = stage.name ?? `#${stage.index}`;
    const missing: string[] = [];
    const image = expandArgs(stage.from, values, missing);
    if (missing.length > 0) {
      problems.push(
        `stage ${label}: FROM ${stage.from} uses ${missing.join(", ")} without a value`,
      );
      continue;
    }
    if (stageNames.has(image.toLowerCase()) || image.toLowerCase() === "scratch") continue;
    bases.push({ stage: label, image });
    const ref = parseImageRef(image);
    if (options.requireDigest && !ref.digest) {
      problems.push(`stage ${label}: base ${image} is not pinned by digest`);
    } else if (!ref.digest && !ref.tag) {
      problems.push(`stage ${label}: base ${image} has no tag (implicitly latest)`);
    } else if (!ref.digest && FLOATING_TAGS.has(ref.tag!.toLowerCase())) {
      problems.push(`stage ${label}: base ${image} uses the floating tag "${ref.tag}"`);
    }
  }
  return bases;
}

/** What the target stage, with the stages it builds on, sets: USER, HEALTHCHECK, EXPOSE. */
interface TargetSettings {
  user?: string;
  healthcheck?: string;
  exposed: number[];
}

function targetSettings(
  chain: Stage[],
  values: Record<string, string | undefined>,
  buildArgs: Record<string, string> | undefined,
): TargetSettings {
  const found: TargetSettings = { exposed: [] };
  for (const stage of chain) {
    const stageValues = { ...values };
    for (const instruction of stage.instructions) {
      if (instruction.keyword === "ARG") {
        for (const [k, v] of Object.entries(parseArg(instruction.args))) {
          stageValues[k] = buildArgs?.[k] ?? v ?? values[k];
        }
      } else if (instruction.keyword === "USER") {
        found.user = expandArgs(instruction.args, stageValues);
      } else if (instruction.keyword === "HEALTHCHECK") {
        found.healthcheck = instruction.args;
      } else if (instruction.keyword === "EXPOSE") {
        for (const word of expandArgs(instruction.args, stageValues).split(/\s+/)) {
          const port = parseInt(word, 10);
          if (Number.isInteger(port)) found.exposed.push(port);
        }
      }
    }
  }
  return found;
}

function targetProblems(label: string, { user, healthcheck, exposed }: TargetSettings): string[] {
  const problems: string[] = [];
  if (user === undefined) {
    problems.push(`stage ${label} sets no USER (an inherited base-image user is not enough)`);
  } else if (isRootUser(user)) {
    problems.push(`stage ${label} runs as root (USER ${user})`);
  }
  if (healthcheck === undefined) problems.push(`stage ${label} has no HEALTHCHECK`);
  else if (/^NONE\b/i.test(healthcheck)) problems.push(`stage ${label} disables HEALTHCHECK`);
  if (exposed.length === 0) problems.push(`stage ${label} has no EXPOSE`);
  return problems;
}

function dockerignoreProblems(dockerignore: DockerIgnore | undefined): string[] {
  if (!dockerignore) {
    return [".dockerignore is missing (the whole context, .env and .git included, is sent)"];
  }
  return [".env", ".git"].filter((path) => !dockerignore.excludes(path))
    .map((path) => `.dockerignore does not exclude ${path}`);
}
