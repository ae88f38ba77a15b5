/**
 * The release's SLSA v1 provenance: what was built (this project's Dockerfile, its target,
 * its build arguments), from what (the git commit, each base image by digest, deno.lock by
 * sha256), by whom and when.
 *
 * The source is identified twice: by its URL (the `origin` remote, or the folder when there
 * is none) and by the repository's root commit, which every clone shares whatever its remote,
 * so the policy's default accepts this project's own releases from any clone.
 *
 * @module
 */
import { DENO_VERSION, docker, realBaseImages, ROOT, run, runOk } from "../../_lib/mod.ts";
import {
  BUILD_TYPE,
  GITHUB_BUILDER,
  LOCAL_BUILDER,
  type Provenance,
  type ResourceDescriptor,
} from "../predicates.ts";

/** The git facts of the work tree the release builds from. */
export interface GitSource {
  /** `origin`'s URL, or `file://ROOT` without a remote. */
  repository: string;
  /** HEAD's commit. */
  commit: string;
  /** The repository's first commit (the oldest root): the same in every clone. */
  rootCommit: string;
  /** Uncommitted changes to tracked files, or untracked files that are not ignored. */
  dirty: boolean;
  /** How many paths `git status --porcelain` lists. */
  changedPaths: number;
}

/** git in `cwd`: its trimmed output, or the kernel's one-line error (`Cannot run git ...`). */
const git = (args: string[], cwd: string) => runOk("git", args, { cwd });

/** Reads the work tree's git facts; throws one line where `dir` is not a git work tree. */
export async function gitSource(dir: string = ROOT): Promise<GitSource> {
  const commit = await git(["rev-parse", "HEAD"], dir);
  // A shallow clone's oldest commit is its cut, not the root every clone shares.
  if ((await git(["rev-parse", "--is-shallow-repository"], dir)) === "true") {
    throw new Error(
      "Cannot read the source's root commit: the clone is shallow; fetch its whole history " +
        "(git fetch --unshallow; actions/checkout: fetch-depth: 0)",
    );
  }
  const roots = (await git(["rev-list", "--max-parents=0", "HEAD"], dir)).split("\n");
  const remote = await run("git", ["remote", "get-url", "origin"], { cwd: dir });
  const status = await git(["status", "--porcelain"], dir);
  const changed = status ? status.split("\n").length : 0;
  return {
    repository: remote.code === 0 && remote.stdout.trim() ? remote.stdout.trim() : `file://${dir}`,
    commit,
    rootCommit: roots[roots.length - 1],
    dirty: changed > 0,
    changedPaths: changed,
  };
}

/** A base image as the build used it. */
export interface BaseImage {
  /** Its build argument (`DENO_IMAGE`, `RUNTIME_IMAGE`). */
  name: string;
  /** The reference the build was given. */
  ref: string;
  /** Its digest, without `sha256:`. */
  sha256: string;
  /** `manifest`: the registry's digest; `image-config`: the local image id (never pushed). */
  digestOf: "manifest" | "image-config";
}

/**
 * Resolves a base image to the digest actually used: the digest pinned in the reference,
 * else the registry digest Docker recorded when it pulled it, else (an image built here,
 * like the stand-ins) its image id, the digest of its configuration.
 */
export async function resolveBaseImage(name: string, ref: string): Promise<BaseImage> {
  const pinned = /@sha256:([0-9a-f]{64})$/.exec(ref)?.[1];
  if (pinned) return { name, ref, sha256: pinned, digestOf: "manifest" };
  const result = await docker(["image", "inspect", "--format", "{{json .}}", ref]);
  if (result.code !== 0) {
    throw new Error(`Cannot resolve ${name}=${ref} to a digest: the engine has no such image`);
  }
  const info = JSON.parse(result.stdout) as { Id: string; RepoDigests?: string[] };
  const repo = ref.replace(/:[^/:]+$/, "");
  // Only this repository's digest: the same image pushed elsewhere has another manifest.
  const repoDigest = (info.RepoDigests ?? []).find((d) => d.startsWith(`${repo}@`));
  if (repoDigest) {
    return { name, ref, sha256: repoDigest.split("@sha256:")[1], digestOf: "manifest" };
  }
  return { name, ref, sha256: info.Id.replace(/^sha256:/, ""), digestOf: "image-config" };
}

/** The base images' references for these build arguments (the Dockerfile's defaults else). */
export function baseImageRefs(buildArgs: string[]): { name: string; ref: string }[] {
  const defaults = realBaseImages();
  const given = new Map(
    buildArgs.map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
  );
  return [
    { name: "DENO_IMAGE", ref: given.get("DENO_IMAGE") || defaults.deno },
    { name: "RUNTIME_IMAGE", ref: given.get("RUNTIME_IMAGE") || defaults.runtime },
  ];
}

/** `pkg:docker/NAME@VERSION` for a reference (the form BuildKit's provenance uses). */
export function dockerPurl(ref: string): string {
  const [name, digest] = ref.split("@");
  const tag = /:([^/:]+)$/.exec(name)?.[1];
  const repo = tag ? name.slice(0, -tag.length - 1) : name;
  return `pkg:docker/${repo}${tag ? `@${tag}` : digest ? `@${digest}` : ""}`;
}

/** The sha256 of a file, hex. */
export async function fileSha256(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What {@linkcode buildProvenance} records. */
export interface ProvenanceInputs {
  /** The work tree's git facts. */
  source: GitSource;
  /** The Dockerfile, relative to the project root. */
  dockerfile: string;
  /** The Dockerfile stage. */
  target: string;
  /** The build arguments, `K=V`, as given to `docker build` (or as the image was built with). */
  buildArgs: string[];
  /** The base images, resolved. */
  bases: BaseImage[];
  /** deno.lock's sha256. */
  lockSha256: string;
  /** The Docker engine's version. */
  dockerVersion: string;
  /** Who built the image: `release` built it, `from` tagged a local one, `pushed` pulled one. */
  builtBy: "release" | "from" | "pushed";
  /** The release's own version (deno.json). */
  version: string;
  /** When the build (or the release, for an image built elsewhere) started and finished. */
  startedOn: string;
  /** See `startedOn`. */
  finishedOn: string;
  /** The environment (GitHub Actions variables decide the builder). */
  env?: Record<string, string | undefined>;
}

/** The SLSA v1 provenance predicate for one release. */
export function buildProvenance(inputs: ProvenanceInputs): Provenance {
  const env = inputs.env ?? {};
  const github = env.GITHUB_ACTIONS === "true" && env.RUNNER_ENVIRONMENT !== "self-hosted";
  const server = env.GITHUB_SERVER_URL ?? "https://github.com";
  const { source } = inputs;
  const buildArgs = Object.fromEntries(
    inputs.buildArgs.map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
  );
  const dependencies: ResourceDescriptor[] = [
    {
      name: "source",
      uri: `git+${source.repository}@${source.commit}`,
      digest: { gitCommit: source.commit },
      annotations: {
        repository: source.repository,
        rootCommit: source.rootCommit,
        dirty: source.dirty,
        ...(source.dirty ? { changedPaths: source.changedPaths } : {}),
      },
    },
    ...inputs.bases.map((b) => ({
      name: b.name,
      uri: dockerPurl(b.ref),
      digest: { sha256: b.sha256 },
      annotations: { ref: b.ref, digestOf: b.digestOf },
    })),
    { name: "deno.lock", uri: "file:deno.lock", digest: { sha256: inputs.lockSha256 } },
  ];
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        source: { repository: source.repository, commit: source.commit },
        dockerfile: inputs.dockerfile,
        target: inputs.target,
        buildArgs,
        builtBy: inputs.builtBy,
        ...(github
          ? {
            workflow: {
              ref: env.GITHUB_WORKFLOW_REF,
              repository: `${server}/${env.GITHUB_REPOSITORY}`,
            },
          }
          : {}),
      },
      internalParameters: { deno: DENO_VERSION, docker: inputs.dockerVersion },
      resolvedDependencies: dependencies,
    },
    runDetails: {
      builder: {
        id: github ? GITHUB_BUILDER : LOCAL_BUILDER,
        version: { "swft-release": inputs.version, deno: Deno.version.deno },
      },
      metadata: {
        invocationId: github
          ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${
            env.GITHUB_RUN_ATTEMPT ?? "1"
          }`
          : `urn:uuid:${crypto.randomUUID()}`,
        startedOn: inputs.startedOn,
        finishedOn: inputs.finishedOn,
      },
    },
  };
}
