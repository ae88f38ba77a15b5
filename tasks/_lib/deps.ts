/**
 * The tooling's npm dependencies, pinned here with inline `npm:` specifiers on purpose.
 *
 * They are NOT in deno.json's "imports": the Dockerfile's deps stage runs
 * `deno install --frozen`, which installs every package of the import map into the image's
 * npm layer. Inline specifiers are resolved only by the modules that import them (the tasks
 * and tests), so the image keeps only what the server imports (hono, eta, zod).
 *
 * @module
 */
export { default as tarStream } from "npm:tar-stream@3.2.2";
export { DockerfileParser } from "npm:dockerfile-ast@0.7.1";
// deno-lint-ignore no-import-prefix -- on purpose, see above
import dockerignoreModule, { type Ignore } from "npm:@balena/dockerignore@1.0.2";

/**
 * `@balena/dockerignore`'s factory: a CommonJS `module.exports` function, which its typings
 * declare as a default export (hence the cast).
 */
export const dockerignore = dockerignoreModule as unknown as (
  options?: { ignorecase?: boolean },
) => Ignore;
