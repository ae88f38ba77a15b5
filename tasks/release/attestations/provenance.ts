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
import {
  DENO_VERSION,
  docker,
  engineVersion,
  pass,
  readDenoJson,
  realBaseImages,
  ROOT,
  run,
  runOk,
} from "../../_lib/mod.ts";
import { publishing, type ReleaseStep, writePredicate } from "../run.ts";
import { cond, jp, noWildcard } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

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

/** SLSA v1 provenance: the predicate type cosign's `slsaprovenance1` stands for. */
export const PROVENANCE_TYPE = "https://slsa.dev/provenance/v1";
/** The build this project's release performs: its Dockerfile, built by `deno task release`. */
export const BUILD_TYPE = "urn:swft:build:release:v1";
/** The builder when the release runs anywhere but a GitHub-hosted runner. */
export const LOCAL_BUILDER = "urn:swft:builder:local:v1";
/** GitHub-hosted runners, as SLSA's GitHub Actions build types name them. */
export const GITHUB_BUILDER = "https://github.com/actions/runner/github-hosted";

/** An SLSA v1 resource descriptor (what was used, by digest). */
export interface ResourceDescriptor {
  /** What it is to this build: `source`, `DENO_IMAGE`, `RUNTIME_IMAGE`, `deno.lock`. */
  name: string;
  /** Where it comes from: `git+URL@SHA`, `pkg:docker/...`, `file:deno.lock`. */
  uri: string;
  /** Its digests by algorithm (`sha256`, `gitCommit`). */
  digest: Record<string, string>;
  /** Facts a policy reads (the source's root commit, a dirty tree, which digest it is). */
  annotations?: Record<string, unknown>;
}

/** The SLSA v1 provenance predicate as the release writes it. */
export interface Provenance {
  /** What was built, how, from what. */
  buildDefinition: {
    /** {@linkcode BUILD_TYPE}. */
    buildType: string;
    /** What the person releasing chose: source, Dockerfile, target, build arguments. */
    externalParameters: Record<string, unknown>;
    /** What the builder chose: Deno and Docker versions. */
    internalParameters: Record<string, unknown>;
    /** The source commit, each base image and deno.lock, by digest. */
    resolvedDependencies: ResourceDescriptor[];
  };
  /** Who built it and when. */
  runDetails: {
    /** The builder's id and versions. */
    builder: { id: string; version?: Record<string, string> };
    /** This run: its invocation id and times. */
    metadata: { invocationId: string; startedOn: string; finishedOn: string };
  };
}

/** The policy's parameters for the provenance (`provenance`). */
export interface ProvenancePolicy {
  /** The build type it must name. */
  buildType: string;
  /** The accepted builder ids. */
  builders: string[];
  /** The accepted sources, by the repository's root commit... */
  sourceRootCommits: string[];
  /** ...or by the repository's URL. */
  sourceRepositories: string[];
  /** The build arguments that name base images, each resolved to a sha256 digest. */
  baseImages: string[];
  /** Whether a build from a dirty work tree is accepted. */
  acceptDirty: boolean;
}

/** The variables by which a GitHub-hosted run is recorded as such (the task may read these). */
const GITHUB_VARIABLES = [
  "GITHUB_ACTIONS",
  "RUNNER_ENVIRONMENT",
  "GITHUB_SERVER_URL",
  "GITHUB_REPOSITORY",
  "GITHUB_WORKFLOW_REF",
  "GITHUB_RUN_ID",
  "GITHUB_RUN_ATTEMPT",
];

/** `provenance`: the SLSA v1 predicate for this release ({@linkcode buildProvenance}). */
export const provenanceStep: ReleaseStep = {
  id: "provenance",
  when: publishing,
  async run(r) {
    const { options } = r;
    const provenance = buildProvenance({
      source: r.source!,
      dockerfile: "Dockerfile",
      target: options.target,
      buildArgs: options.buildArgs,
      bases: r.bases!,
      lockSha256: await fileSha256(`${ROOT}/deno.lock`),
      dockerVersion: await engineVersion() ?? "unknown",
      builtBy: options.image.digest ? "pushed" : options.from ? "from" : "release",
      version: readDenoJson().version ?? "dev",
      startedOn: r.built?.startedOn ?? r.report.startedAt,
      finishedOn: r.built?.finishedOn ?? new Date().toISOString(),
      env: Object.fromEntries(GITHUB_VARIABLES.map((name) => [name, Deno.env.get(name)])),
    });
    await writePredicate(r, "provenance", provenance);
    return pass(
      `${provenance.buildDefinition.buildType} by ${provenance.runDetails.builder.id}, ${provenance.buildDefinition.resolvedDependencies.length} dependencies`,
    );
  },
};

/** The provenance attestation (cosign's `slsaprovenance1`); the policy's `provenance-*` rules. */
export const provenance: Attestation = {
  name: "provenance",
  cosignType: "slsaprovenance1",
  predicateType: PROVENANCE_TYPE,
  step: provenanceStep,
  kyverno({ provenance: p }) {
    const source = "buildDefinition.resolvedDependencies[?name == 'source']";
    const repositories = p.sourceRepositories.length > 0;
    const notSource = "rule provenance-source: not an accepted source repository";
    const notDigests = `rule provenance-base-digests: ${
      p.baseImages.join(", ")
    } not all resolved to a sha256 digest`;
    return [
      {
        all: [
          cond(
            jp("buildDefinition.buildType"),
            "Equals",
            p.buildType,
            `rule provenance-build-type: not the build type ${p.buildType}`,
          ),
          noWildcard("[runDetails.builder.id]", "rule provenance-builder: not an accepted builder"),
          cond(
            jp("runDetails.builder.id"),
            "AnyIn",
            p.builders,
            "rule provenance-builder: not an accepted builder",
          ),
          noWildcard("buildDefinition.resolvedDependencies[].name", notDigests),
          cond(
            p.baseImages,
            "AllIn",
            // A sha256 digest is 64 characters (the CUE also checks they are hex, which
            // JMESPath cannot).
            jp("buildDefinition.resolvedDependencies[?length(digest.sha256 || '') == `64`].name"),
            notDigests,
          ),
          noWildcard(
            `[${source}.annotations.rootCommit, ${source}.annotations.repository] | []`,
            notSource,
          ),
          ...(p.acceptDirty ? [] : [
            cond(
              jp(`length(${source}.annotations | [?dirty != \`false\`])`),
              "Equals",
              0,
              "rule provenance-clean-tree: built from a work tree with uncommitted changes",
            ),
          ]),
        ],
      },
      {
        any: [
          cond(
            jp(`${source}.annotations.rootCommit`),
            "AnyIn",
            p.sourceRootCommits,
            repositories ? undefined : notSource,
          ),
          ...(repositories
            ? [
              cond(
                jp(`${source}.annotations.repository`),
                "AnyIn",
                p.sourceRepositories,
                notSource,
              ),
            ]
            : []),
        ],
      },
    ];
  },
};
