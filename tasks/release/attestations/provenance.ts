/**
 * The release's SLSA v1 provenance: what was built (this project's Dockerfile, its target,
 * its build arguments), from what (the git commit, each base image by the digest the engine
 * holds, deno.lock and the air-gapped build inputs by sha256), by whom and when.
 *
 * Only what the release observed: externalParameters and the build's times only when the
 * release ran the build (`--from` and `TAG@DIGEST` say it happened elsewhere); Deno's
 * version as read from the image; the builder from how it signs (a key pair: the key's
 * holder; keyless: the identity in its certificate, which the consumer pins), never from
 * environment variables alone; no URL with credentials in it.
 *
 * The source is identified twice: by its URL (the `origin` remote, credentials stripped; none
 * for a clone without one) and by the repository's root commit, which every clone shares
 * whatever its remote, so the policy's default accepts this project's own releases from any
 * clone.
 *
 * @module
 */
import {
  docker,
  engineVersion,
  inspectImage,
  pass,
  readDenoJson,
  realBaseImages,
  ROOT,
  run,
  runOk,
} from "../../_lib/mod.ts";
import {
  buildInputs,
  changedPaths,
  type HiddenChange,
  hiddenChanges,
  reachableFrom,
  recordedRemote,
  redactUrl,
} from "../git_source.ts";
import type { Statement } from "../cosign.ts";
import { readPolicyFile } from "../policy.ts";
import {
  denoVersionOf,
  publishing,
  type ReleaseRun,
  type ReleaseStep,
  writePredicate,
} from "../run.ts";
import { cond, type Condition, jp, noWildcard } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

/** The git facts of the work tree the release builds from. */
export interface GitSource {
  /** `origin`'s URL without credentials; absent without a remote, or one that is a folder. */
  repository?: string;
  /** HEAD's commit. */
  commit: string;
  /** The repository's first commit (the oldest root): the same in every clone. */
  rootCommit: string;
  /** Changes git reports (tracked or untracked), or hides ({@linkcode hidden}). */
  dirty: boolean;
  /** How many paths `git status --porcelain --untracked-files=all` lists. */
  changedPaths: number;
  /** Their paths, in git's order (the refusal names the first). */
  changed: string[];
  /** Paths whose content reaches the build while git status hides it (git_source.ts). */
  hidden: HiddenChange[];
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
  // Every untracked file, whatever status.showUntrackedFiles says; -z keeps paths whole.
  const changed = await changedPaths(dir);
  const hidden = await hiddenChanges(dir);
  const url = remote.code === 0 ? recordedRemote(remote.stdout.trim()) : undefined;
  return {
    ...(url ? { repository: url } : {}),
    commit,
    rootCommit: roots[roots.length - 1],
    dirty: changed.length > 0 || hidden.length > 0,
    changedPaths: changed.length,
    changed,
    hidden,
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
  /**
   * `manifest`: the registry's digest; `engine-image-id`: the local image's id (never pushed),
   * which is the config digest in the legacy image store but the manifest or index digest in
   * the containerd store, so the name claims only what the engine says.
   */
  digestOf: "manifest" | "engine-image-id";
}

/** The rule a base image that cannot be resolved or checked is refused under. */
export const BASE_RULE = "rule provenance-base";

/**
 * Resolves a base image to the digest of the image the engine holds under `ref`, the one a
 * build given `ref` uses: the registry digest Docker recorded when it pulled it, else (an
 * image built here, like the stand-ins) its image id, the digest of its configuration. A
 * reference pinned by digest is taken only when the engine holds that very manifest; what
 * the engine does not hold is refused, never recorded as given.
 */
export async function resolveBaseImage(name: string, ref: string): Promise<BaseImage> {
  const result = await docker(["image", "inspect", "--format", "{{json .}}", ref]);
  if (result.code !== 0) {
    throw new Error(
      `${BASE_RULE}: ${name}=${ref} is not an image the engine holds; docker pull it, or ` +
        "give the reference the build used",
    );
  }
  const info = JSON.parse(result.stdout) as { Id: string; RepoDigests?: string[] };
  const repo = ref.replace(/@sha256:[0-9a-f]{64}$/, "").replace(/:[^/:]+$/, "");
  // Only this repository's digest: the same image pushed elsewhere has another manifest.
  const digests = (info.RepoDigests ?? []).filter((d) => d.startsWith(`${repo}@sha256:`))
    .map((d) => d.split("@sha256:")[1]);
  const pinned = /@sha256:([0-9a-f]{64})$/.exec(ref)?.[1];
  if (pinned && !digests.includes(pinned)) {
    throw new Error(
      `${BASE_RULE}: ${name}=${ref}: the engine's image under that name has another digest ` +
        `(${digests[0] ?? info.Id}); give the digest the engine resolved`,
    );
  }
  const manifest = pinned ?? digests[0];
  return manifest
    ? { name, ref, sha256: manifest, digestOf: "manifest" }
    : { name, ref, sha256: info.Id.replace(/^sha256:/, ""), digestOf: "engine-image-id" };
}

/**
 * Refuses, in one line, an image whose layers do not begin with the runtime base's: the
 * recorded base would not be the one it was built on.
 */
export async function checkBaseLayers(image: string, runtimeBase: string): Promise<void> {
  const layers = (await inspectImage(runtimeBase)).RootFS?.Layers ?? [];
  const own = (await inspectImage(image)).RootFS?.Layers ?? [];
  if (layers.length === 0 || layers.some((layer, i) => own[i] !== layer)) {
    throw new Error(
      `${BASE_RULE}: the layers of ${image} do not begin with RUNTIME_IMAGE=${runtimeBase}'s; ` +
        "give the RUNTIME_IMAGE the image was built on",
    );
  }
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

/** A file of the build context the Dockerfile reads though git ignores it (`denort`...). */
export interface BuildInput {
  /** Its path in the context. */
  name: string;
  /** Its sha256, hex. */
  sha256: string;
}

/** What {@linkcode buildProvenance} records. */
export interface ProvenanceInputs {
  /** The work tree's git facts. */
  source: GitSource;
  /** The Dockerfile, relative to the project root. */
  dockerfile: string;
  /** The Dockerfile stage. */
  target: string;
  /** The build arguments, `K=V`, as given to `docker build` (only when `release` built it). */
  buildArgs: string[];
  /** The base images, resolved. */
  bases: BaseImage[];
  /** deno.lock's sha256. */
  lockSha256: string;
  /** The air-gapped build inputs in the context (git_source.ts BUILD_INPUTS), by digest. */
  buildInputs?: BuildInput[];
  /** The Docker engine's version. */
  dockerVersion: string;
  /** Deno's version, as read from the image. */
  deno: string;
  /** Who built the image: `release` built it, `from` tagged a local one, `pushed` pulled one. */
  builtBy: "release" | "from" | "pushed";
  /** The image as given (`--from`'s, or `REPO:TAG@DIGEST`), for an image built elsewhere. */
  image?: string;
  /** The release's own version (deno.json). */
  version: string;
  /** When the release's build started and finished (only when `release` built it). */
  startedOn?: string;
  /** See `startedOn`. */
  finishedOn?: string;
  /** How the provenance is signed: the builder is who holds the key, or the keyless identity. */
  signer: "key" | "keyless";
  /** The environment: GitHub Actions variables describe a keyless run's workflow. */
  env?: Record<string, string | undefined>;
}

/** `K=V` build arguments as an object, each value without credentials (a URL's token). */
function recordedBuildArgs(buildArgs: string[]): Record<string, string> {
  return Object.fromEntries(
    buildArgs.map((a) => [a.slice(0, a.indexOf("=")), redactUrl(a.slice(a.indexOf("=") + 1))]),
  );
}

/** The source, each base image, deno.lock and the build inputs, as SLSA ResourceDescriptors. */
function dependenciesOf(inputs: ProvenanceInputs): ResourceDescriptor[] {
  const { source } = inputs;
  return [
    {
      name: "source",
      // A clone without a remote has no URL another machine could fetch: none is written.
      ...(source.repository ? { uri: `git+${source.repository}@${source.commit}` } : {}),
      digest: { gitCommit: source.commit },
      annotations: {
        repository: source.repository ?? null,
        rootCommit: source.rootCommit,
        dirty: source.dirty,
        ...(source.dirty
          ? { changedPaths: source.changedPaths, hiddenPaths: source.hidden.length }
          : {}),
      },
    },
    ...inputs.bases.map((b) => ({
      name: b.name,
      uri: dockerPurl(b.ref),
      digest: { sha256: b.sha256 },
      annotations: { ref: b.ref, digestOf: b.digestOf },
    })),
    { name: "deno.lock", uri: "file:deno.lock", digest: { sha256: inputs.lockSha256 } },
    ...(inputs.buildInputs ?? []).map((f) => ({
      name: f.name,
      uri: `file:${f.name}`,
      digest: { sha256: f.sha256 },
    })),
  ];
}

/**
 * Who built it: with a key pair, whoever holds the key (where it ran is not observed);
 * keyless on a GitHub-hosted runner, GitHub's runner, a claim the certificate's identity
 * (the workflow, which the consumer pins) backs; keyless elsewhere, the certificate's holder.
 */
function builderOf(inputs: ProvenanceInputs) {
  const env = inputs.env ?? {};
  const github = inputs.signer === "keyless" && env.GITHUB_ACTIONS === "true" &&
    env.RUNNER_ENVIRONMENT === "github-hosted" && Boolean(env.GITHUB_RUN_ID);
  const server = redactUrl(env.GITHUB_SERVER_URL ?? "https://github.com").replace(/\/$/, "");
  if (!github) {
    return {
      id: inputs.signer === "key" ? KEY_HOLDER_BUILDER : KEYLESS_BUILDER,
      invocationId: `urn:uuid:${crypto.randomUUID()}`,
    };
  }
  return {
    id: GITHUB_BUILDER,
    invocationId: `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${
      env.GITHUB_RUN_ATTEMPT ?? "1"
    }`,
    workflow: { ref: env.GITHUB_WORKFLOW_REF, repository: `${server}/${env.GITHUB_REPOSITORY}` },
  };
}

/** The SLSA v1 provenance predicate for one release. */
export function buildProvenance(inputs: ProvenanceInputs): Provenance {
  const { source } = inputs;
  const builder = builderOf(inputs);
  const built = inputs.builtBy === "release";
  const externalParameters = built
    ? {
      source: { repository: source.repository ?? null, commit: source.commit },
      dockerfile: inputs.dockerfile,
      target: inputs.target,
      buildArgs: recordedBuildArgs(inputs.buildArgs),
      builtBy: inputs.builtBy,
      ...(builder.workflow ? { workflow: builder.workflow } : {}),
    }
    : {
      // The release did not run the build: what it was given is not a build's parameter.
      builtBy: inputs.builtBy,
      builtElsewhere: true,
      image: redactUrl(inputs.image ?? ""),
      source: { repository: source.repository ?? null, commit: source.commit },
    };
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters,
      internalParameters: { deno: inputs.deno, docker: inputs.dockerVersion },
      resolvedDependencies: dependenciesOf(inputs),
    },
    runDetails: {
      builder: {
        id: builder.id,
        version: { "swft-release": inputs.version, deno: Deno.version.deno },
      },
      metadata: {
        invocationId: builder.invocationId,
        ...(built && inputs.startedOn && inputs.finishedOn
          ? { startedOn: inputs.startedOn, finishedOn: inputs.finishedOn }
          : {}),
      },
    },
  };
}

/** SLSA v1 provenance: the predicate type cosign's `slsaprovenance1` stands for. */
export const PROVENANCE_TYPE = "https://slsa.dev/provenance/v1";
/** The build this project's release performs: its Dockerfile, built by `deno task release`. */
export const BUILD_TYPE = "urn:swft:build:release:v1";
/**
 * The builder of a release signed with a key pair: whoever holds the key. Where it ran is not
 * observed (a laptop can set any environment variable), so it is not claimed.
 */
export const KEY_HOLDER_BUILDER = "urn:swft:builder:key-holder:v1";
/** The builder of a keyless release outside a GitHub-hosted runner: the certificate's holder. */
export const KEYLESS_BUILDER = "urn:swft:builder:keyless:v1";
/** GitHub-hosted runners, as SLSA's GitHub Actions build types name them. */
export const GITHUB_BUILDER = "https://github.com/actions/runner/github-hosted";

/** An SLSA v1 resource descriptor (what was used, by digest). */
export interface ResourceDescriptor {
  /** What it is to this build: `source`, `DENO_IMAGE`, `RUNTIME_IMAGE`, `deno.lock`. */
  name: string;
  /** Where it comes from: `git+URL@SHA`, `pkg:docker/...`, `file:deno.lock` (none for a local clone). */
  uri?: string;
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
    metadata: { invocationId: string; startedOn?: string; finishedOn?: string };
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
  /**
   * The refs (`git for-each-ref` patterns) whose history must hold the attested commit in the
   * consumer's clone (`--verify-only --source DIR`); the CUE cannot fetch refs.
   */
  sourceRefs: string[];
}

/** The rule a commit on none of the policy's refs is refused under. */
export const REACHABLE_RULE = "rule provenance-source-reachable";

/**
 * With `--source DIR`: each attested source commit is on one of the policy's
 * `provenance.sourceRefs` in the consumer's clone, or the image is refused in one line.
 */
async function checkReachable(r: ReleaseRun, statements: Statement[]): Promise<void> {
  const { source: dir, policy } = r.options;
  if (!dir || !policy) return;
  const refs = readPolicyFile(policy).provenance.sourceRefs;
  for (const statement of statements) {
    const source = (statement.predicate as Provenance).buildDefinition?.resolvedDependencies
      ?.find((d) => d.name === "source");
    const commit = source?.digest?.gitCommit ?? "";
    if (!/^[0-9a-f]{40}$/.test(commit) || !await reachableFrom(dir, commit, refs)) {
      throw new Error(
        `${REACHABLE_RULE}: ${commit || "no commit"} is on none of ${refs.join(", ")} in ${dir}; ` +
          "git fetch there, or deploy an image built from a published commit",
      );
    }
  }
}

/** The variables by which a keyless GitHub-hosted run is described (the task may read these). */
const GITHUB_VARIABLES = [
  "GITHUB_ACTIONS",
  "RUNNER_ENVIRONMENT",
  "GITHUB_SERVER_URL",
  "GITHUB_REPOSITORY",
  "GITHUB_WORKFLOW_REF",
  "GITHUB_RUN_ID",
  "GITHUB_RUN_ATTEMPT",
];

/** The air-gapped build inputs the build context held, by digest (only when the release built). */
async function buildInputDigests(r: ReleaseRun): Promise<BuildInput[]> {
  if (!r.built) return [];
  const names = await buildInputs(ROOT);
  return Promise.all(names.map(async (name) => ({
    name,
    sha256: await fileSha256(`${ROOT}/${name}`),
  })));
}

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
      buildArgs: r.built?.buildArgs ?? options.buildArgs,
      bases: r.bases!,
      lockSha256: await fileSha256(`${ROOT}/deno.lock`),
      buildInputs: await buildInputDigests(r),
      dockerVersion: await engineVersion() ?? "unknown",
      deno: await denoVersionOf(r),
      builtBy: options.image.digest ? "pushed" : options.from ? "from" : "release",
      image: options.from ?? options.imageText,
      version: readDenoJson().version ?? "dev",
      startedOn: r.built?.startedOn,
      finishedOn: r.built?.finishedOn,
      signer: options.signing.key ? "key" : "keyless",
      env: Object.fromEntries(GITHUB_VARIABLES.map((name) => [name, Deno.env.get(name)])),
    });
    await writePredicate(r, "provenance", provenance);
    return pass(
      `${provenance.buildDefinition.buildType} by ${provenance.runDetails.builder.id}, ${provenance.buildDefinition.resolvedDependencies.length} dependencies`,
    );
  },
};

/** The provenance's source dependencies, in JMESPath. */
const SOURCE = "buildDefinition.resolvedDependencies[?name == 'source']";

/**
 * Kyverno: exactly one source, as the CUE's provenance-source (with a second one, the AnyIn on
 * root commits below would match either). A source without its root commit or `dirty` fails
 * the conditions that read them; its `repository` may be null (a clone without a remote), which
 * JMESPath cannot tell from missing.
 */
function sourceConditions(source: string): Condition[] {
  return [
    cond(
      jp(`length(${source})`),
      "Equals",
      1,
      "rule provenance-source: not exactly one source in resolvedDependencies",
    ),
  ];
}

/**
 * Kyverno: the base image `name` exactly once, with a sha256 of 64 hex digits, as the CUE's
 * provenance-base-digests reads it (no `{64}`: Kyverno's `{{ }}` scanner takes one level of
 * braces).
 */
function baseDigestCondition(name: string): Condition {
  return cond(
    jp(
      `length(buildDefinition.resolvedDependencies[?name == '${name}' && ` +
        "length(digest.sha256 || '') == `64` && regex_match('^[0-9a-f]+$', digest.sha256 || '')])",
    ),
    "Equals",
    1,
    `rule provenance-base-digests: ${name} not resolved to a sha256 digest`,
  );
}

/** The provenance attestation (cosign's `slsaprovenance1`); the policy's `provenance-*` rules. */
export const provenance: Attestation = {
  name: "provenance",
  cosignType: "slsaprovenance1",
  predicateType: PROVENANCE_TYPE,
  step: provenanceStep,
  checkAttested: checkReachable,
  kyverno({ provenance: p }) {
    const source = SOURCE;
    const repositories = p.sourceRepositories.length > 0;
    const notSource = "rule provenance-source: not an accepted source repository";
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
          ...sourceConditions(SOURCE),
          ...p.baseImages.map(baseDigestCondition),
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
