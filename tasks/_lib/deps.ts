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
// deno-lint-ignore-file no-import-prefix -- inline specifiers are the point, see above
export { default as tarStream } from "npm:tar-stream@3.2.2";
import {
  type Dockerfile as DockerfileAst,
  DockerfileParser as Parser,
} from "npm:dockerfile-ast@0.7.1";
import dockerignoreModule, { type Ignore } from "npm:@balena/dockerignore@1.0.2";

// The packages' types get local `@internal` names: `deno doc --lint` (Deno 2.9) counts another
// package's type as private (denoland/deno#27364), and re-exporting one lints its whole API.

/**
 * dockerfile-ast's syntax tree of one Dockerfile.
 *
 * @internal
 */
export type DockerfileTree = DockerfileAst;

/**
 * A `.dockerignore` matcher of `@balena/dockerignore`.
 *
 * @internal
 */
export type IgnoreMatcher = Ignore;

/** dockerfile-ast's parser: `DockerfileParser.parse(text)` gives the syntax tree. */
export const DockerfileParser: { parse(text: string): DockerfileTree } = Parser;

/**
 * `@balena/dockerignore`'s factory: a CommonJS `module.exports` function, which its typings
 * declare as a default export (hence the cast).
 */
export const dockerignore = dockerignoreModule as unknown as (
  options?: { ignorecase?: boolean },
) => IgnoreMatcher;
