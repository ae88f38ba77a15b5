/**
 * The one rule for the base images every container test builds from.
 *
 * Base images, in this order, per build argument (`DENO_IMAGE`, `RUNTIME_IMAGE`):
 * 1. `SWFT_TEST_DENO_IMAGE` / `SWFT_TEST_RUNTIME_IMAGE` when set (present or pullable);
 * 2. the real bases (the Dockerfile's defaults) when present or pullable;
 * 3. the stand-ins when present, or built with `deno task images:standin` where that can
 *    work (root and debootstrap);
 * 4. otherwise the container tests are ignored, naming why and the one command that helps
 *    (tests/_container.ts registers them; under `CI=true` they fail instead).
 *
 * @module
 */
import {
  type BaseImages,
  docker,
  engineVersion,
  imageId,
  realBaseImages,
  ROOT,
  run,
  runDeno,
  STANDIN_IMAGES,
} from "../tasks/_lib/mod.ts";

/** Where the base images come from, or why container tests cannot run here. */
export type BaseChoice =
  | { images: BaseImages; source: string; ignore?: undefined }
  | { images?: undefined; ignore: string };

/** What {@linkcode chooseBaseImages} asks of the machine (injectable for its own test). */
export interface Machine {
  /** An environment variable. */
  env(name: string): string | undefined;
  /** True when a Docker engine answers. */
  engine(): Promise<boolean>;
  /** The image exists locally, or a pull succeeds. */
  available(ref: string): Promise<boolean>;
  /** `deno task images:standin` can run here (root and debootstrap). */
  canBuildStandins(): Promise<boolean>;
  /** Builds the stand-ins; resolves to an error line or undefined. */
  buildStandins(): Promise<string | undefined>;
}

const ENV = { deno: "SWFT_TEST_DENO_IMAGE", runtime: "SWFT_TEST_RUNTIME_IMAGE" } as const;

/** Applies the order above; pure over `machine`. */
export async function chooseBaseImages(
  machine: Machine,
  real: BaseImages = realBaseImages(),
): Promise<BaseChoice> {
  if (!await machine.engine()) {
    return { ignore: "no Docker engine reachable; start one (dockerd or Docker Desktop)" };
  }
  const chosen: Partial<BaseImages> = {};
  const sources: string[] = [];
  for (const key of ["deno", "runtime"] as const) {
    const fromEnv = machine.env(ENV[key]);
    if (fromEnv) {
      if (!await machine.available(fromEnv)) {
        return {
          ignore: `${ENV[key]}=${fromEnv} is neither present nor pullable; ` +
            `docker pull ${fromEnv}, or unset ${ENV[key]}`,
        };
      }
      chosen[key] = fromEnv;
      sources.push(ENV[key]);
    } else if (await machine.available(real[key])) {
      chosen[key] = real[key];
      sources.push("real");
    }
  }
  const missing = (["deno", "runtime"] as const).filter((key) => !chosen[key]);
  if (missing.length > 0) {
    const standins = await Promise.all(
      missing.map((key) => machine.available(STANDIN_IMAGES[key])),
    );
    if (!standins.every(Boolean)) {
      if (!await machine.canBuildStandins()) {
        const bases = missing.map((key) => real[key]).join(" and ");
        return {
          ignore: `base images ${bases} are neither present nor pullable and the stand-ins ` +
            `cannot be built here (needs root and debootstrap); run deno task images:standin ` +
            `as root, or docker pull ${missing.map((key) => real[key]).join(" ")}`,
        };
      }
      const error = await machine.buildStandins();
      if (error) return { ignore: `deno task images:standin failed: ${error}` };
    }
    for (const key of missing) chosen[key] = STANDIN_IMAGES[key];
    sources.push("stand-ins");
  }
  return { images: chosen as BaseImages, source: [...new Set(sources)].join(", ") };
}

/** This machine, as {@linkcode chooseBaseImages} sees it. */
export const THIS_MACHINE: Machine = {
  env: (name) => Deno.env.get(name) || undefined,
  engine: async () => (await engineVersion()) !== undefined,
  async available(ref) {
    if (await imageId(ref)) return true;
    return (await docker(["pull", "-q", ref])).code === 0;
  },
  async canBuildStandins() {
    return Deno.uid() === 0 && (await run("sh", ["-c", "command -v debootstrap"])).code === 0;
  },
  async buildStandins() {
    console.error("container tests: building the stand-in base images (deno task images:standin)");
    const result = await runDeno(["task", "images:standin"], { cwd: ROOT });
    return result.code === 0 ? undefined : result.stderr.trim().split("\n").at(-1);
  },
};
