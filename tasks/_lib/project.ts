/**
 * Facts about this project that several tasks and tests need, each defined once: the root
 * folder, deno.json, the pinned Deno version, the base images (real and stand-in) and the
 * `start` task's permissions.
 *
 * @module
 */

/** The project root (the folder holding deno.json), without a trailing slash. */
export const ROOT: string = decodeURIComponent(new URL("../..", import.meta.url).pathname)
  .replace(/\/$/, "");

/** The Deno version the project pins (Dockerfile `DENO_IMAGE`, .ci/run, stand-ins). */
export const DENO_VERSION = "2.9.6";

/** The parts of deno.json the tasks read. */
export interface DenoJson {
  /** Package name. */
  name?: string;
  /** Project version (image label, binary version). */
  version?: string;
  /** Task name to its command and description (`deno task` lists the descriptions). */
  tasks: Record<string, Task>;
  /** The import map: the server's dependencies only (see tasks/_lib/deps.ts). */
  imports?: Record<string, string>;
}

/**
 * deno.json of the project, parsed.
 *
 * @example
 * ```ts
 * readDenoJson().version; // "1.0.0"
 * ```
 */
export function readDenoJson(): DenoJson {
  return JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
}

/** A deno.json task: a command string, or an object with its command and a description. */
export type Task = string | { command: string; description?: string };

/**
 * The command of deno.json's task `name`, whichever form the task is written in.
 *
 * @example
 * ```ts
 * taskCommand("start"); // "deno run --allow-net=... main.ts"
 * ```
 *
 * @throws {Error} when deno.json has no such task
 */
export function taskCommand(name: string, config: DenoJson = readDenoJson()): string {
  const task = config.tasks[name];
  if (task === undefined) throw new Error(`Cannot read the ${name} task: deno.json has none`);
  return typeof task === "string" ? task : task.command;
}

/** A base image the Dockerfile builds on, by its build argument. */
export interface BaseImages {
  /** `DENO_IMAGE`: the deno image the build stages use. */
  deno: string;
  /** `RUNTIME_IMAGE`: the distroless base of the runtime stages. */
  runtime: string;
}

/** Local stand-ins for the real bases, built by `deno task images:standin`. */
export const STANDIN_IMAGES: BaseImages = {
  deno: `swft-standin/deno:${DENO_VERSION}`,
  runtime: "swft-standin/distroless-cc-debian13:nonroot",
};

/**
 * True when a build's output says a base image could not be pulled: the legacy builder's last
 * step a `FROM`, or BuildKit's and the registry's pull errors (not a failing `RUN`).
 *
 * @example
 * ```ts
 * pullFailed("failed to resolve source metadata for docker.io/denoland/deno:2.9.6"); // true
 * ```
 */
export function pullFailed(output: string): boolean {
  const steps = [...output.matchAll(/Step \d+\/\d+ : (\S+)/g)];
  if (steps.length > 0 && /^FROM$/i.test(steps[steps.length - 1][1])) return true;
  return /failed to resolve source metadata|load metadata for|pull access denied|manifest unknown|manifest for \S+ not found/i
    .test(output);
}

/**
 * `command` (a tool's build, such as `deno task verify --target runtime-deno`) from the local
 * stand-in bases, after building them: what a build that cannot pull its bases should run.
 *
 * @example
 * ```ts
 * standinCommand("docker build --target runtime-deno -t swft .");
 * ```
 */
export function standinCommand(command: string): string {
  return `deno task images:standin && ${command} ` +
    `--build-arg DENO_IMAGE=${STANDIN_IMAGES.deno} --build-arg RUNTIME_IMAGE=${STANDIN_IMAGES.runtime}`;
}

/** The one hint line a tool ends with when a base image cannot be pulled; `doc` says more. */
export function standinHint(command: string, doc: string): string {
  return `hint: a base image cannot be pulled (no registry reachable?); use local stand-ins: ` +
    `${command} (${doc})`;
}

/**
 * The Dockerfile's build arguments that choose `images` as the bases.
 *
 * @example
 * ```ts
 * baseImageArgs(STANDIN_IMAGES).DENO_IMAGE; // "swft-standin/deno:2.9.6"
 * ```
 */
export function baseImageArgs(images: BaseImages): Record<string, string> {
  return { DENO_IMAGE: images.deno, RUNTIME_IMAGE: images.runtime };
}

/**
 * The real bases: the defaults of the Dockerfile's `DENO_IMAGE` and `RUNTIME_IMAGE` build
 * arguments, read from the Dockerfile so they are written in one place.
 */
export function realBaseImages(
  dockerfile = Deno.readTextFileSync(`${ROOT}/Dockerfile`),
): BaseImages {
  const arg = (name: string) => {
    const value = new RegExp(`^ARG\\s+${name}=(\\S+)`, "m").exec(dockerfile)?.[1];
    if (!value) throw new Error(`Cannot read the Dockerfile: no default for ARG ${name}`);
    return value;
  };
  return { deno: arg("DENO_IMAGE"), runtime: arg("RUNTIME_IMAGE") };
}

/** The `start` task, split into what the tools need. */
export interface StartTask {
  /** Everything after `deno`: `run`, the flags, the entry point. */
  args: string[];
  /** The `--allow-*` and `--deny-*` flags. */
  permissions: string[];
  /** The entry module (main.ts). */
  entry: string;
}

/**
 * Parses deno.json's `start` task: the one definition of the server's permissions, which the
 * build task bakes into the binary, the bench and the tests run with, and the Dockerfile copies.
 *
 * @example
 * ```ts
 * startTask("deno run --allow-net=0.0.0.0 main.ts").permissions; // ["--allow-net=0.0.0.0"]
 * ```
 */
export function startTask(command: string = taskCommand("start")): StartTask {
  const words = command.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`Cannot read the start task: it must begin with "deno run", got "${command}"`);
  }
  if (words.some((w) => w === "--allow-all" || w === "-A")) {
    throw new Error("Cannot read the start task: it must list its permissions, not --allow-all");
  }
  return {
    args: words.slice(1),
    permissions: words.filter((w) => /^--(allow|deny)-[a-z-]+(=|$)/.test(w)),
    entry: words[words.length - 1],
  };
}
