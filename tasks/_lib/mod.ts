/**
 * The tasks' shared kernel: processes, docker, project facts, waiting, formatting, the step
 * runner, clean-up and the command-line conventions. Tasks and tests import from here. Three
 * modules that read `.dockerignore` (an npm package of the tooling, which the image's builder
 * stage does not have) are imported by path: build_context.ts, dockerignore.ts, reproducible.ts.
 *
 * @example
 * ```ts
 * import { docker, progress, ROOT, runTask } from "./_lib/mod.ts";
 * ```
 *
 * @module
 */
export * from "./cleanup.ts";
export * from "./cli.ts";
export * from "./deno_run.ts";
export * from "./doc_blocks.ts";
export * from "./docker.ts";
export * from "./format.ts";
export * from "./process.ts";
export * from "./project.ts";
export * from "./steps.ts";
export * from "./wait.ts";
