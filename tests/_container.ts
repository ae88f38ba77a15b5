/**
 * What every container test shares: the base images (tests/_base_images.ts), one way to
 * register a test (ignored with the reason and the enabling command where it cannot run,
 * failing instead under `CI=true`), and names for what the tests create.
 *
 * @module
 */
import { type BaseImages, uniqueName } from "../tasks/_lib/mod.ts";
import { type BaseChoice, chooseBaseImages, THIS_MACHINE } from "./_base_images.ts";

/** The choice for this test process, made once. */
export const BASES: BaseChoice = await chooseBaseImages(THIS_MACHINE);

/** The bases as `docker build` / `deno task verify` flags. */
export function buildArgFlags(images: BaseImages): string[] {
  return [
    "--build-arg",
    `DENO_IMAGE=${images.deno}`,
    "--build-arg",
    `RUNTIME_IMAGE=${images.runtime}`,
  ];
}

/** True under CI (`CI=true`, as GitHub Actions and .ci/run set it): ignoring is an error. */
export const IN_CI = /^(1|true)$/i.test(Deno.env.get("CI") ?? "");

/**
 * Registers a container test: ignored with its reason and enabling command where the bases
 * are unavailable, but failing with that reason under CI.
 */
export function containerTest(name: string, fn: (images: BaseImages) => Promise<void>): void {
  const reason = BASES.ignore;
  Deno.test({
    name: reason && !IN_CI ? `${name} (ignored: ${reason})` : name,
    ignore: reason !== undefined && !IN_CI,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => {
      if (reason) throw new Error(`Container tests cannot run under CI: ${reason}`);
      return fn(BASES.images!);
    },
  });
}

if (BASES.ignore && !IN_CI) console.error(`container tests ignored: ${BASES.ignore}`);

/**
 * A lower-case name for an image or container a test creates, unique to the call, under
 * `SWFT_TEST_NAME_PREFIX` (default `swft-test`).
 */
export function testName(label: string): string {
  return uniqueName(`${Deno.env.get("SWFT_TEST_NAME_PREFIX") || "swft-test"}-${label}`);
}
