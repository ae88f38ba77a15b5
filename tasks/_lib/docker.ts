/**
 * The Docker CLI as functions. The tasks talk to the engine only through `docker`, so docker
 * contexts, DOCKER_HOST and Podman's docker alias all work; every call returns the one
 * {@linkcode RunResult} shape.
 *
 * @module
 */
import { sizeInBytes } from "./format.ts";
import { run, runOk, type RunOptions, type RunResult } from "./process.ts";

/** Options of {@linkcode docker}: those of `run`. */
export type DockerOptions = RunOptions;

// The CLI's hints ("What's next: ...") say nothing about a result.
const DOCKER_ENV = { DOCKER_CLI_HINTS: "false" };

/**
 * Runs `docker ...args`; never throws for a non-zero exit (code 127: no docker CLI).
 *
 * @example
 * ```ts
 * const { code, stdout } = await docker(["version", "--format", "{{json .}}"]);
 * ```
 */
export function docker(args: string[], options: DockerOptions = {}): Promise<RunResult> {
  return run("docker", args, { ...options, env: { ...DOCKER_ENV, ...options.env } });
}

/**
 * Runs docker and returns its trimmed stdout; throws the kernel's one-line
 * {@linkcode CommandError} with docker's last words on failure.
 *
 * @example
 * ```ts
 * const id = await dockerOk(["create", "swft:runtime-deno"]);
 * ```
 */
export function dockerOk(args: string[], options: DockerOptions = {}): Promise<string> {
  return runOk("docker", args, { ...options, env: { ...DOCKER_ENV, ...options.env } });
}

/** What `docker build` builds: {@linkcode dockerBuildArgs} turns it into arguments. */
export interface DockerBuild {
  /** The build context folder. */
  context: string;
  /** The Dockerfile stage to build. */
  target: string;
  /** The tag to give the image. */
  tag: string;
  /** The Dockerfile (default: the context's). */
  file?: string;
  /** `--build-arg` values, `K=V` or a map, in order (a later value wins). */
  buildArgs?: readonly string[] | Readonly<Record<string, string>>;
  /** Build every step again (`--no-cache`). */
  noCache?: boolean;
  /** Print only the image id (`--quiet`). */
  quiet?: boolean;
  /** The engine builds with BuildKit (see {@linkcode usesBuildKit}): plain progress lines. */
  buildKit?: boolean;
  /**
   * BuildKit only: write the image as an OCI archive to this path instead of loading it, the
   * file times clamped to `SOURCE_DATE_EPOCH` (`rewrite-timestamp=true`): the output two builds
   * of one commit must agree on.
   */
  ociArchive?: string;
}

/**
 * `--build-arg` flags for `K=V` strings or a map, in order.
 *
 * @example
 * ```ts
 * buildArgFlags({ DENO_IMAGE: "deno:2.9.6" }); // ["--build-arg", "DENO_IMAGE=deno:2.9.6"]
 * ```
 */
export function buildArgFlags(
  buildArgs: readonly string[] | Readonly<Record<string, string>>,
): string[] {
  const pairs = Array.isArray(buildArgs)
    ? buildArgs
    : Object.entries(buildArgs).map(([key, value]) => `${key}=${value}`);
  return pairs.flatMap((pair) => ["--build-arg", pair]);
}

/**
 * The arguments of one `docker build`, the same for every task and test that builds.
 *
 * @example
 * ```ts
 * await docker(dockerBuildArgs({ context: ".", target: "runtime", tag: "swft:x" }));
 * ```
 */
export function dockerBuildArgs(build: DockerBuild): string[] {
  return [
    "build",
    ...(build.file ? ["-f", build.file] : []),
    "--target",
    build.target,
    "-t",
    build.tag,
    ...buildArgFlags(build.buildArgs ?? []),
    ...(build.noCache ? ["--no-cache"] : []),
    ...(build.quiet ? ["--quiet"] : []),
    ...(build.ociArchive
      ? ["--output", `type=oci,dest=${build.ociArchive},rewrite-timestamp=true`]
      : []),
    // BuildKit: one plain line per event, which verify's build log reader parses, and no
    // provenance attestation of its own: buildx's default one carries the build's times, so
    // each build of the same image gets another image id (our provenance is attested apart).
    // The legacy builder leaves the container of a failed RUN step behind unless told not to.
    ...(build.buildKit ? ["--progress=plain", "--provenance=false"] : ["--force-rm"]),
    build.context,
  ];
}

/**
 * Runs docker and parses its stdout as JSON; throws with docker's message on failure.
 *
 * @example
 * ```ts
 * const info = await dockerJson<{ Id: string }>(["image", "inspect", "--format", "{{json .}}", "x"]);
 * ```
 */
export async function dockerJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await dockerOk(args)) as T;
}

/**
 * The engine's server version, or `undefined` when no engine is reachable (or no CLI).
 *
 * @example
 * ```ts
 * if (!await engineVersion()) console.error("no Docker engine reachable");
 * ```
 */
export async function engineVersion(): Promise<string | undefined> {
  const result = await docker(["version", "--format", "{{.Server.Version}}"]);
  const version = result.stdout.trim();
  return result.code === 0 && version ? version : undefined;
}

/**
 * Which builder `docker build` uses: DOCKER_BUILDKIT decides when set; otherwise the CLI
 * uses BuildKit exactly when the buildx plugin is installed.
 */
export async function usesBuildKit(): Promise<boolean> {
  const env = Deno.env.get("DOCKER_BUILDKIT");
  if (env !== undefined && env !== "") return env !== "0" && env.toLowerCase() !== "false";
  return (await docker(["buildx", "version"])).code === 0;
}

/**
 * The image id of `ref`, or `undefined` when the engine has no such image.
 *
 * @example
 * ```ts
 * const before = await imageId("swft:runtime-deno");
 * ```
 */
export async function imageId(ref: string): Promise<string | undefined> {
  const result = await docker(["image", "inspect", "--format", "{{.Id}}", ref]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** The fields of `docker image inspect` that the tasks read. */
export interface ImageInfo {
  /** Image id (`sha256:...`). */
  Id: string;
  /** Bytes, as `docker images` counts them. */
  Size: number;
  /** The layer digests. */
  RootFS?: { Layers?: string[] };
  /** The image configuration: command, user, environment, ports, health check, labels. */
  Config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    User?: string;
    Env?: string[];
    ExposedPorts?: Record<string, unknown>;
    Healthcheck?: { Test?: string[] };
    Labels?: Record<string, string> | null;
  };
}

/** `docker image inspect` of one image; throws when it does not exist. */
export function inspectImage(ref: string): Promise<ImageInfo> {
  return dockerJson<ImageInfo>(["image", "inspect", "--format", "{{json .}}", ref]);
}

/** The fields of `docker container inspect` that the tasks read. */
export interface ContainerInfo {
  /** Container id. */
  Id: string;
  /** Run state, exit code, main process id and health. */
  State: {
    Status: string;
    Running: boolean;
    Pid: number;
    ExitCode: number;
    OOMKilled?: boolean;
    Health?: { Status: string; Log?: { ExitCode: number; Output: string }[] };
  };
  /** Published ports. */
  NetworkSettings: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> };
}

/** `docker container inspect` of one container; throws when it does not exist. */
export function inspectContainer(name: string): Promise<ContainerInfo> {
  return dockerJson<ContainerInfo>(["container", "inspect", "--format", "{{json .}}", name]);
}

/**
 * Reads the usage half of `docker stats`' MemUsage ("12.5MiB / 23.6GiB") in bytes. The CLI
 * offers only this rounded form (3 significant digits), precise enough for a budget.
 */
export function parseMemUsage(text: string): number | undefined {
  return sizeInBytes(text.split("/")[0]);
}

/**
 * A name for something a run creates (image tag, container), unique to this process and
 * call: `PREFIX-<base36 time><random>`. Lower case, as image references must be.
 *
 * @example
 * ```ts
 * uniqueName("swft-verify"); // "swft-verify-m3k2x9ab1c"
 * ```
 */
export function uniqueName(prefix: string): string {
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${prefix.toLowerCase().replace(/[^a-z0-9_.-]/g, "-")}-${id}`;
}
