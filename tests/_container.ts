/**
 * What every container test shares: the base images (tests/_base_images.ts), one way to
 * register a test (ignored with the reason and the enabling command where it cannot run,
 * failing instead under `CI=true`), and names for what the tests create.
 *
 * @module
 */
import {
  baseImageArgs,
  type BaseImages,
  buildArgFlags,
  CleanupStack,
  docker,
  uniqueName,
} from "../tasks/_lib/mod.ts";
import { type BaseChoice, chooseBaseImages, THIS_MACHINE } from "./_base_images.ts";

/** The choice for this test process, made once. */
export const BASES: BaseChoice = await chooseBaseImages(THIS_MACHINE);

/** The bases as `docker build` / `deno task verify` / `deno task release` flags. */
export function baseImageFlags(images: BaseImages): string[] {
  return buildArgFlags(baseImageArgs(images));
}

/** True under CI (`CI=true`, as GitHub Actions and .ci/run set it): ignoring is an error. */
export const IN_CI: boolean = /^(1|true)$/i.test(Deno.env.get("CI") ?? "");

/**
 * Registers a test that needs something this machine may lack (a Docker engine, base images,
 * a tool): where `reason` says it is missing, the test is ignored with that reason and the
 * command that enables it in its name, but fails with the reason under CI. The one rule for
 * every such test.
 */
export function requiredTest(
  name: string,
  reason: string | undefined,
  fn: () => Promise<void>,
): void {
  Deno.test({
    name: reason && !IN_CI ? `${name} (ignored: ${reason})` : name,
    ignore: reason !== undefined && !IN_CI,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => {
      if (reason) throw new Error(`Cannot run under CI: ${reason}`);
      return fn();
    },
  });
}

/** Registers a container test: {@linkcode requiredTest} on the base images' availability. */
export function containerTest(name: string, fn: (images: BaseImages) => Promise<void>): void {
  requiredTest(name, BASES.ignore, () => fn(BASES.images!));
}

if (BASES.ignore && !IN_CI) console.error(`container tests ignored: ${BASES.ignore}`);

/**
 * A clean-up stack for what the tests of one module share (an image built once, a registry),
 * disposed after the module's last test, whichever passed or failed.
 */
export function moduleCleanup(): CleanupStack {
  const cleanup = new CleanupStack();
  Deno.test.afterAll(() => cleanup.disposeAsync());
  return cleanup;
}

/**
 * Removes the containers whose name contains `repository` and the tags under it: what
 * `deno task verify --image REPOSITORY` leaves with `--keep` or when it is killed. With
 * `keepCache`, the untagged parent layers stay (Docker's build cache, for the next build).
 */
export async function removeByName(
  repository: string,
  options: { keepCache?: boolean } = {},
): Promise<void> {
  const containers = await docker(["ps", "-aq", "--filter", `name=${repository}`]);
  const ids = containers.stdout.split("\n").filter(Boolean);
  if (ids.length > 0) await docker(["rm", "-f", ...ids]);
  const images = await docker(["images", "--format", "{{.Repository}}:{{.Tag}}", repository]);
  const refs = images.stdout.split("\n").filter(Boolean);
  if (refs.length > 0) {
    await docker(["rmi", ...(options.keepCache ? ["--no-prune"] : ["--force"]), ...refs]);
  }
}

/**
 * A lower-case name for an image or container a test creates, unique to the call, under
 * `SWFT_TEST_NAME_PREFIX` (default `swft-test`).
 */
export function testName(label: string): string {
  return uniqueName(`${Deno.env.get("SWFT_TEST_NAME_PREFIX") || "swft-test"}-${label}`);
}
