/**
 * `deno task release`: the pieces without tools (references, digests, the SBOM merge, the
 * command line, the steps of each mode), then the whole round on this machine (issue 18): a
 * local registry (Debian's docker-registry), a cosign key pair, ONE release of `runtime-deno`
 * from the test bases out of a clean clone of the work tree (and a second, from another clone,
 * that must push the same digest; `--rebuild` from a third), what a consumer verifies with
 * `--verify-only --policy deploy/policy/swft.cue`, every refusal at the rule that names it
 * (each refused image is the released one pushed to another repository, signed and attested
 * by the test with cosign, and passes under a copy of the policy without that rule), the
 * save/load round into a second registry, a tag overwritten between push and sign, and the
 * failures a user meets (registry unreachable, wrong key password, an unsigned image).
 *
 * The round needs cosign and cdxgen (`deno task release:tools`, PATH, or COSIGN / CDXGEN),
 * docker-registry, a Docker engine and base images. Where one is missing the round is skipped
 * with the reason and the command that installs it; under CI (`CI=true`) it runs anyway and
 * fails, so a CI run cannot pass without it. The bases follow the container tests' rule
 * (tests/_base_images.ts); names come from `testName` (prefix `SWFT_TEST_NAME_PREFIX`); it
 * removes what it creates.
 */
import assert from "node:assert/strict";
import {
  CleanupStack,
  DENO_VERSION,
  docker,
  dockerOk,
  fetchText,
  freePort,
  poll,
  ROOT,
  run,
  runDeno,
  tempDir,
  UsageError,
} from "../tasks/_lib/mod.ts";
import { parseReleaseArgs, type ReleaseReport, releaseSteps } from "../tasks/release.ts";
import { isLoopbackRegistry, parseImageRef, pushedDigest } from "../tasks/release/image_ref.ts";
import {
  appPackages,
  type Bom,
  type Component,
  mergeBoms,
} from "../tasks/release/attestations/sbom.ts";
import {
  configDigest,
  type LocalRegistry,
  registryCommand,
  startRegistry,
} from "../tasks/release/registry.ts";
import { baseImageFlags, BASES, IN_CI, requiredTest, testName } from "./_container.ts";
import { attestedStatements, cosignCommand, verifiedDigests } from "../tasks/release/cosign.ts";
import { cdxgenCommand } from "../tasks/release/attestations/sbom.ts";
import { entrypointFlags } from "../tasks/release/attestations/permissions.ts";
import {
  attestationNamed,
  kindOf,
  requiredAttestations,
} from "../tasks/release/attestations/mod.ts";
import type { PermissionsPredicate } from "../tasks/release/attestations/permissions.ts";
import type { Provenance } from "../tasks/release/attestations/provenance.ts";
import type { VerifyProof } from "../tasks/release/attestations/verify_proof.ts";
import { fileSha256 } from "../tasks/release/attestations/provenance.ts";
import { requiring, withoutRule, withParams } from "./_policy.ts";
import { NOT_RUN_ON_EXISTING_IMAGE } from "../tasks/verify/checks_build.ts";
import { PREDICATE_REFUSALS, type Predicates, refusedPredicate } from "./_trust_fixtures.ts";

const LOCK = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.lock`));
const DIGEST_A = `sha256:${"a".repeat(64)}`;
/** The steps of a release `--from` a local image, in order. */
const FROM_STEPS = [
  "key",
  "source",
  "tag",
  "push",
  "bases",
  "verify",
  "permissions",
  "sbom",
  "provenance",
  "sign",
  "attest",
  "verify-signature",
  "verify-attestations",
];

// ---- without tools --------------------------------------------------------------------------

Deno.test("release --image: a reference must name its registry and a lower-case repository", () => {
  assert.deepEqual(parseImageRef("127.0.0.1:5000/swft:1.0.0"), {
    registry: "127.0.0.1:5000",
    name: "127.0.0.1:5000/swft",
    tag: "1.0.0",
    digest: undefined,
  });
  assert.equal(parseImageRef(`ghcr.io/acme/swft@${DIGEST_A}`).digest, DIGEST_A);
  assert.throws(() => parseImageRef("swft:1.0.0"), /names no registry/);
  assert.throws(() => parseImageRef("ghcr.io/Acme/swft:1"), /not an image reference/);
  assert.ok(isLoopbackRegistry("127.0.0.1:5000"));
  assert.ok(isLoopbackRegistry("localhost:5000"));
  assert.ok(!isLoopbackRegistry("ghcr.io"));
  assert.ok(!isLoopbackRegistry("127.0.0.1.example:5000"));
});

Deno.test("release reads the registry's digest from docker push, for the pushed tag only", () => {
  const output = `The push refers to repository [127.0.0.1:5000/swft]\n5f70bf18a086: Pushed\n` +
    `1.0.0: digest: ${DIGEST_A} size: 1160\n`;
  assert.equal(pushedDigest(output, "1.0.0"), DIGEST_A);
  assert.equal(pushedDigest(output, "1.0"), undefined);
  assert.equal(
    pushedDigest("denied: requested access to the resource is denied", "1.0.0"),
    undefined,
  );
});

Deno.test("release command line: mistakes are usage errors that say what to do", () => {
  const usage = (args: string[], pattern: RegExp) =>
    assert.throws(
      () => parseReleaseArgs(args),
      (e) => e instanceof UsageError && pattern.test(e.message),
    );
  usage([], /--image REGISTRY\/REPO:TAG is required/);
  usage(["--image", "swft:1"], /names no registry/);
  usage(["--image", `127.0.0.1:5000/swft@${DIGEST_A}`, "--key", "deno.json"], /must name a tag/);
  usage(
    ["--image", "127.0.0.1:5000/swft:1", "--build-arg", "novalue", "--key", "deno.json"],
    /KEY=VALUE/,
  );
  usage(
    ["--image", "127.0.0.1:5000/swft:1"],
    /--certificate-identity and --certificate-oidc-issuer/,
  );
  usage([
    "--image",
    "127.0.0.1:5000/swft:1",
    "--no-tlog",
    "--certificate-identity",
    "x",
    "--certificate-oidc-issuer",
    "y",
  ], /--no-tlog needs --key/);
  usage(["--image", "127.0.0.1:5000/swft:1", "--key", "/nonexistent/cosign.key"], /cannot read/);
  usage(
    ["--image", `127.0.0.1:5000/swft:1@${DIGEST_A}`, "--key", "deno.json", "--from", "x"],
    /already pushed: --from does not apply/,
  );
  usage(
    ["--verify-only", "--image", "127.0.0.1:5000/swft:1", "--key", "deno.json", "--scan", "x"],
    /--verify-only publishes nothing: --scan does not apply/,
  );
  usage(
    ["--image", "127.0.0.1:5000/swft:1", "--key", "deno.json", "--policy", "deno.json"],
    /--policy must be a CUE file/,
  );
  usage(
    ["--image", "127.0.0.1:5000/swft:1", "--key", "deno.json", "--policy", "/nonexistent.cue"],
    /--policy: cannot read/,
  );
  // A report from a file can claim anything (issue 23, item 3): the flag is gone, and says so.
  usage(
    ["--image", "127.0.0.1:5000/swft:1", "--key", "deno.json", "--verify-report", "deno.json"],
    /^--verify-report was removed: .*observes on the pushed image in this run; drop the flag$/,
  );
  const ok = parseReleaseArgs([
    "--image",
    "127.0.0.1:5000/swft:1",
    "--key",
    "deno.json",
    "--no-tlog",
  ]);
  assert.ok(ok !== "help");
  assert.equal(ok.target, "runtime");
  assert.equal(ok.signing.loopback, true);
});

Deno.test("release steps: each mode runs its steps in order, verification always last", () => {
  const ids = (args: string[]) => {
    const options = parseReleaseArgs(args);
    assert.ok(options !== "help");
    return releaseSteps(options).map((step) => step.id);
  };
  const key = ["--key", "deno.json", "--no-tlog"];
  const verify = ["verify-signature", "verify-attestations"];
  const proven = ["bases", "verify", "permissions", "sbom", "provenance"];
  const publish = [...proven, "sign", "attest", ...verify];
  assert.deepEqual(ids(["--image", "127.0.0.1:5000/swft:1", ...key]), [
    "key",
    "source",
    "build",
    "push",
    ...publish,
  ]);
  assert.deepEqual(ids(["--image", "127.0.0.1:5000/swft:1", "--from", "x", ...key]), [
    "key",
    "source",
    "tag",
    "push",
    ...publish,
  ]);
  assert.deepEqual(
    ids(["--image", `127.0.0.1:5000/swft:1@${DIGEST_A}`, ...key, "--scan", "deno.json"]),
    ["key", "source", "pull", ...proven, "scan", "sign", "attest", ...verify],
  );
  assert.deepEqual(
    ids(["--image", "127.0.0.1:5000/swft:1", ...key, "--policy", POLICY]),
    ["key", "source", "build", "push", ...proven, "policy", "sign", "attest", ...verify],
    "with --policy, the predicates are held to it before anything is signed",
  );
  // The consumer re-checks the pulled image, always: a claim is refused, never trusted.
  assert.deepEqual(ids(["--verify-only", "--image", "127.0.0.1:5000/swft:1", ...key]), [
    ...verify,
    "recheck",
  ]);
  assert.deepEqual(
    ids(["--verify-only", "--image", "127.0.0.1:5000/swft:1", ...key, "--save", "/tmp/x"]),
    [...verify, "recheck", "save"],
  );
  assert.deepEqual(
    ids(["--rebuild", "--image", `127.0.0.1:5000/swft@${DIGEST_A}`, ...key]),
    [...verify, "rebuild"],
    "a rebuild verifies, then rebuilds; it publishes nothing",
  );
  assert.throws(
    () => parseReleaseArgs(["--rebuild", "--image", "127.0.0.1:5000/swft:1", ...key]),
    /--rebuild needs --image REF@sha256/,
  );
});

Deno.test("release without cosign: the first failed step ends the run, exit 1, the rest skipped", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-release-test-");
  {
    const json = `${dir}/report.json`;
    const result = await runDeno([
      "task",
      "release",
      "--image",
      "127.0.0.1:9/swft-release-test:1",
      "--from",
      "swft-release-test-never-built",
      "--key",
      `${ROOT}/deno.json`,
      "--no-tlog",
      "--json",
      json,
    ], { cwd: ROOT, env: { COSIGN: `${dir}/no-cosign` } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^release: key\.\.\.$/m, "a progress line as the step starts");
    assert.match(result.stderr, /^release: failed at step key: Cannot run cosign \(/m);
    assert.equal(result.stdout, "", "no reference printed");
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.ok, false);
    assert.equal(report.reference, null);
    assert.deepEqual(report.steps.map((s) => [s.id, s.status, s.detail.slice(0, 40)]), [
      ["key", "fail", `Cannot run cosign (${dir}/no-cosign)`.slice(0, 40)],
      ...FROM_STEPS.slice(1).map((id) => [id, "skip", "not run: key failed"]),
    ]);
    assert.ok(report.steps.every((s) => Object.keys(s).join() === "id,status,detail,ms"));
  }
});

Deno.test("the SBOM keeps the app's npm packages with hashes, the image's packages and Deno", () => {
  const lockBom: Bom = {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    metadata: {
      component: { type: "application", name: "server", "bom-ref": "pkg:npm/@swft/server@1.0.0" },
    },
    components: [
      npm("hono", "4.13.19", "abc"),
      npm("tar-stream", "3.2.2", "def"), // a task's dependency: not the app's
    ],
    dependencies: [{ ref: "pkg:npm/@swft/server@1.0.0", dependsOn: ["pkg:npm/hono@4.13.19"] }],
  };
  const imageBom: Bom = {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    components: [
      {
        type: "library",
        name: "libc6",
        version: "2.41",
        purl: "pkg:deb/debian/libc6@2.41",
        "bom-ref": "pkg:deb/debian/libc6@2.41",
      },
      { ...npm("hono", "4.13.19"), hashes: undefined },
      { type: "file", name: "deno", purl: "pkg:generic/deno", "bom-ref": "pkg:generic/deno" },
    ],
  };
  const app = appPackages({
    version: "5",
    specifiers: { "npm:hono@^4.13.19": "4.13.19", "npm:tar-stream@3.2.2": "3.2.2" },
    npm: { "hono@4.13.19": {}, "tar-stream@3.2.2": {} },
    workspace: { dependencies: ["npm:hono@^4.13.19"] },
  });
  assert.deepEqual([...app], ["hono@4.13.19"]);
  const bom = mergeBoms(imageBom, lockBom, {
    name: "127.0.0.1:5000/swft",
    tag: "1.0.0",
    digest: DIGEST_A,
    denoVersion: "2.9.6",
  }, app);
  const names = bom.components!.map((c) => c.name).sort();
  assert.deepEqual(names, ["deno", "hono", "libc6", "server"]);
  assert.equal(bom.components!.find((c) => c.name === "hono")!.hashes![0].content, "abc");
  assert.equal(bom.components!.find((c) => c.name === "deno")!.version, "2.9.6");
  assert.equal(bom.metadata!.component!.type, "container");
  assert.match(bom.metadata!.component!.purl!, /^pkg:oci\/swft@sha256%3Aa{64}\?repository_url=/);
  assert.match(bom.serialNumber!, /^urn:uuid:/);
});

Deno.test("deno.lock's app packages are hono, eta and zod (and what they pull in)", () => {
  const app = appPackages(LOCK);
  for (const name of ["hono", "eta", "zod"]) {
    assert.ok([...app].some((key) => key.startsWith(`${name}@`)), `${name} in ${[...app]}`);
  }
  assert.ok(![...app].some((key) => key.startsWith("tar-stream@")), "tasks' tools stay out");
});

Deno.test("cosign's verify output: the vouched digests and the attested statements", () => {
  assert.deepEqual(
    verifiedDigests(
      JSON.stringify([{ critical: { image: { "docker-manifest-digest": DIGEST_A } } }]),
    ),
    [DIGEST_A],
  );
  assert.deepEqual(verifiedDigests("not json"), []);
  const statement = { predicateType: "https://cyclonedx.org/bom", subject: [], predicate: {} };
  const line = JSON.stringify({
    payloadType: "application/vnd.in-toto+json",
    payload: btoa(JSON.stringify(statement)),
  });
  assert.deepEqual(attestedStatements(`WARNING: x\n${line}\n`), [statement]);
});

function npm(name: string, version: string, hash?: string): Component {
  return {
    type: "library",
    name,
    version,
    purl: `pkg:npm/${name}@${version}`,
    "bom-ref": `pkg:npm/${name}@${version}`,
    ...(hash ? { hashes: [{ alg: "SHA-512", content: hash }] } : {}),
  };
}

// ---- the round, with the real tools ---------------------------------------------------------

const INSTALL = "deno task release:tools (or bash .ci/install_tools.sh && export " +
  "PATH=/opt/swft-tools/bin:$PATH)";

async function missingTool(): Promise<string | undefined> {
  const has = async (cmd: string, args: string[]) => (await run(cmd, args)).code !== 127;
  if (!await has(cosignCommand(), ["version"])) return `cosign not found (run: ${INSTALL})`;
  if (!await has(cdxgenCommand(), ["--version"])) return `cdxgen not found (run: ${INSTALL})`;
  if (!await has(registryCommand(), ["--version"])) {
    return "docker-registry not found (run: apt-get install docker-registry)";
  }
  return undefined;
}

// The bases by the container tests' one rule (tests/_base_images.ts), then the tools.
const SKIP = BASES.ignore ?? await missingTool();
// Under CI the round runs regardless and fails on what is missing: a skip must not pass CI.
if (SKIP !== undefined && !IN_CI) console.error(`release round ignored: ${SKIP}`);

const REPO_NAME = testName("release");
const PASSWORD = `swft-test-${crypto.randomUUID()}`;
const POLICY = `${ROOT}/deploy/policy/swft.cue`;

/** What the round's steps share, set up once. */
interface Round {
  registry: LocalRegistry;
  /** The air-gapped side of the save/load round. */
  second: LocalRegistry;
  dir: string;
  /** A clean clone of the work tree as it is (committed there), without a remote. */
  src: string;
  key: string;
  pub: string;
  /** Another key pair's public key. */
  otherPub: string;
  repo: string;
  image: string;
  report?: ReleaseReport;
  stdout?: string;
  sbom?: Bom;
  /** The accepted image's predicates, by attestation name (from cosign verify-attestation). */
  predicates?: Record<string, unknown>;
  /** Local tags and digest references the round created, removed by its clean-up. */
  created: Set<string>;
  /** Removes what the round created: tags, the registries, the key folder. */
  cleanup: CleanupStack;
}

/** Records a local tag or reference of the round, to remove at its end. */
function own(r: Round, ref: string): void {
  if (r.created.has(ref)) return;
  r.created.add(ref);
  r.cleanup.defer(async () => void await docker(["rmi", ref]));
}
let round: Round | undefined;

async function git(args: string[], cwd: string): Promise<string> {
  const result = await run("git", [
    "-c",
    "user.name=swft-test",
    "-c",
    "user.email=test@localhost",
    ...args,
  ], { cwd });
  assert.equal(result.code, 0, `git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/**
 * The work tree as it is, committed in a clone without a remote: the release needs a clean
 * tree (a dirty one is refused unless --allow-dirty), and a developer runs the tests before
 * committing. The clone shares the repository's root commit, as every clone does.
 */
async function snapshot(dir: string): Promise<string> {
  const src = `${dir}/src`;
  await git(["clone", "--quiet", "--shared", ROOT, src], dir);
  const files = (await git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT))
    .split("\0").filter(Boolean);
  for (const file of files) {
    const from = `${ROOT}/${file}`;
    const exists = await Deno.lstat(from).then((s) => s.isFile, () => false);
    if (!exists) {
      await Deno.remove(`${src}/${file}`).catch(() => {});
      continue;
    }
    await Deno.mkdir(`${src}/${file}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(from, `${src}/${file}`);
  }
  await git(["add", "-A"], src);
  await git(["commit", "--quiet", "--allow-empty", "-m", "snapshot of the work tree"], src);
  await git(["remote", "remove", "origin"], src);
  return src;
}

async function keyPair(prefix: string): Promise<void> {
  const keys = await run(cosignCommand(), ["generate-key-pair", "--output-key-prefix", prefix], {
    env: { COSIGN_PASSWORD: PASSWORD },
  });
  assert.equal(keys.code, 0, keys.stderr);
}

async function setUp(): Promise<Round> {
  if (SKIP) throw new Error(`Cannot run the release round: ${SKIP}`);
  if (round) return round;
  const cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-release-test-");
  const registry = await startRegistry(freePort());
  cleanup.defer(() => registry.stop());
  const second = await startRegistry(freePort());
  cleanup.defer(() => second.stop());
  await keyPair(`${dir}/cosign`);
  await keyPair(`${dir}/other`);
  const repo = `${registry.address}/${REPO_NAME}`;
  round = {
    registry,
    second,
    dir,
    src: await snapshot(dir),
    key: `${dir}/cosign.key`,
    pub: `${dir}/cosign.pub`,
    otherPub: `${dir}/other.pub`,
    repo,
    image: `${repo}:1.0.0`,
    created: new Set(),
    cleanup,
  };
  own(round, round.image);
  return round;
}

async function tearDown(): Promise<void> {
  await round?.cleanup.disposeAsync();
  round = undefined;
}

/** `deno task release` as a user runs it, from the round's clean clone (or `cwd`). */
function release(args: string[], env: Record<string, string> = {}, cwd = round?.src ?? ROOT) {
  return runDeno(["task", "release", ...args], { cwd, env: { COSIGN_PASSWORD: PASSWORD, ...env } });
}

/** A release that builds runtime-deno from the test bases to `image`, signed with the round's key. */
function buildRelease(r: Round, image: string, json: string): string[] {
  return [
    "--image",
    image,
    "--target",
    "runtime-deno",
    ...baseImageFlags(BASES.images!),
    "--key",
    r.key,
    "--no-tlog",
    "--json",
    json,
  ];
}

/** The consumer's check: `--verify-only --policy` with the round's public key. */
function verifyOnly(ref: string, options: { pub?: string; policy?: string; json?: string } = {}) {
  return release([
    "--verify-only",
    "--image",
    ref,
    "--key",
    options.pub ?? round!.pub,
    "--no-tlog",
    "--policy",
    options.policy ?? POLICY,
    ...(options.json ? ["--json", options.json] : []),
  ]);
}

/**
 * Releases the round's first image again as `image`: `--from` it, or for `REPO:TAG@DIGEST`
 * as pushed before; with the round's key, offline. verify runs on that image (as it is: the
 * build checks are reported as not run); no report is taken from a file.
 */
function releaseAgain(
  r: Round,
  image: string,
  json: string,
  env: Record<string, string> = {},
  args: string[] = [],
) {
  const source = /@sha256:/.test(image)
    ? ["--image", image, "--target", "runtime-deno"]
    : ["--from", r.report!.reference!, "--image", image];
  return release([
    ...source,
    "--key",
    r.key,
    "--no-tlog",
    ...baseImageFlags(BASES.images!),
    "--json",
    json,
    ...args,
  ], env);
}

/**
 * A cdxgen for a release of the round's digest again: its image scan answers with the SBOM the
 * first release made of that very digest (a scan depends on the image alone, and is the
 * slowest step: 10 to 20 s here); the lockfile scan runs cdxgen itself.
 */
async function cdxgenOfRound(r: Round): Promise<string> {
  const path = `${r.dir}/cdxgen-of-round`;
  await Deno.writeTextFile(
    path,
    [
      "#!/bin/sh",
      // The release runs `cdxgen -t TYPE ... -o OUTPUT SOURCE`.
      'if [ "$2" = docker ]; then',
      '  while [ "$1" != -o ]; do shift; done',
      `  exec cp '${r.dir}/sbom.cdx.json' "$2"`,
      "fi",
      `exec '${cdxgenCommand()}' "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(path, 0o755);
  return path;
}

function cosignRun(args: string[]) {
  return run(cosignCommand(), args, { env: { COSIGN_PASSWORD: PASSWORD } });
}

const LOOPBACK = ["--allow-http-registry", "--allow-insecure-registry"];

/**
 * The accepted image (or the local image `from`) pushed to another repository of the registry,
 * signed with the round's key and given the attestations `attest` (cosign type to predicate)
 * only: an image a test crafts to be refused.
 */
async function craft(
  r: Round,
  label: string,
  attest: [string, unknown][] | ((ref: string) => Promise<[string, unknown][]>),
  from = r.report!.reference!,
): Promise<string> {
  const tag = `${r.repo}-${label}:1`;
  own(r, tag);
  await dockerOk(["tag", from, tag]);
  const push = await docker(["push", tag]);
  assert.equal(push.code, 0, push.stderr);
  const ref = `${r.repo}-${label}@${pushedDigest(push.stdout, "1")}`;
  const signed = await cosignRun([
    "sign",
    "--yes",
    "--key",
    r.key,
    ...LOOPBACK,
    "--tlog-upload=false",
    ref,
  ]);
  assert.equal(signed.code, 0, signed.stderr);
  for (const [type, predicate] of typeof attest === "function" ? await attest(ref) : attest) {
    const file = `${r.dir}/${label}-${crypto.randomUUID()}.json`;
    await Deno.writeTextFile(file, JSON.stringify(predicate));
    const result = await cosignRun([
      "attest",
      "--yes",
      "--key",
      r.key,
      ...LOOPBACK,
      "--tlog-upload=false",
      "--type",
      type,
      "--predicate",
      file,
      ref,
    ]);
    assert.equal(result.code, 0, result.stderr);
  }
  return ref;
}

async function policyCopy(r: Round, name: string, text: string): Promise<string> {
  const path = `${r.dir}/${name}.cue`;
  await Deno.writeTextFile(path, text);
  return path;
}

const roundTest = (name: string, fn: () => Promise<void>) => requiredTest(name, SKIP, fn);

/**
 * What a registry may answer for a pushed tag: BuildKit on the containerd image store pushes an
 * index (the image and its provenance), Docker's classic builder a single manifest.
 */
const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** The cosign type of each attestation every release attaches, by name (the registry's). */
const TYPES: Record<string, string> = Object.fromEntries(
  requiredAttestations().map((a) => [a.name, a.cosignType]),
);

roundTest(
  "[release] runtime-deno from a clean clone: pushed, proven, signed and attested by digest, saved",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/release.json`;
    const sbom = `${r.dir}/sbom.cdx.json`;
    const result = await release([
      ...buildRelease(r, r.image, json),
      "--policy",
      POLICY,
      "--sbom",
      sbom,
      "--save",
      `${r.dir}/saved`,
    ], {
      // Set by hand, as on a laptop: with a key pair they must not make a GitHub builder.
      GITHUB_ACTIONS: "true",
      RUNNER_ENVIRONMENT: "github-hosted",
      GITHUB_REPOSITORY: "someone/else",
      GITHUB_RUN_ID: "1",
    });
    assert.equal(result.code, 0, result.stderr.slice(-3000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    r.report = report;
    r.sbom = JSON.parse(await Deno.readTextFile(sbom));
    assert.equal(report.tool, "swft-release");
    assert.equal(report.ok, true);
    assert.match(report.digest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(report.reference, `${r.repo}@${report.digest}`);
    assert.equal(result.stdout.trim().split("\n").pop(), report.reference, "stdout: the reference");
    assert.match(result.stderr, /release: released and verified under .*swft\.cue in /);
    assert.deepEqual(
      report.steps.map((s) => [s.id, s.status]),
      [...FROM_STEPS.map((id) => id === "tag" ? "build" : id), "save"]
        .flatMap((id) => id === "sign" ? ["policy", id] : [id]).map((id) => [id, "pass"]),
    );
    assert.deepEqual(report.signature, { verified: true, mode: "key" });
    assert.deepEqual(
      report.attestations,
      requiredAttestations().map((a) => ({
        name: a.name,
        type: a.cosignType,
        predicateType: a.predicateType,
        verified: true,
      })),
    );
    assert.equal(report.policy, POLICY);
    assert.equal(report.saved, `${r.dir}/saved`);
    assert.deepEqual(report.sbom, { path: sbom, components: r.sbom!.components!.length });
    // The digest is the registry's, not the local image ID.
    const registryDigest =
      (await fetch(`http://${r.registry.address}/v2/${REPO_NAME}/manifests/1.0.0`, {
        method: "HEAD",
        headers: { Accept: MANIFEST_TYPES },
      })).headers.get("docker-content-digest");
    assert.equal(report.digest, registryDigest);
    const labels = JSON.parse(
      await dockerOk(["image", "inspect", "-f", "{{json .Config.Labels}}", r.image]),
    );
    assert.equal(
      labels["org.opencontainers.image.version"],
      JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version,
    );
    assert.match(labels["org.opencontainers.image.revision"], /^[0-9a-f]{40}$/);
    assert.ok(
      !Number.isNaN(Date.parse(labels["org.opencontainers.image.created"])),
      "created label",
    );
  },
);

roundTest(
  "[release] a consumer verifies the digest with cosign and the public key; docker run serves /health",
  async () => {
    const r = await setUp();
    const ref = r.report!.reference!;
    const flags = ["--key", r.pub, ...LOOPBACK, "--insecure-ignore-tlog"];
    const verify = await cosignRun(["verify", ...flags, ref]);
    assert.equal(verify.code, 0, verify.stderr);
    // docs/release.md's loop, one attestation type at a time under the policy. The predicates
    // are kept: the tests below read them, and the refused images are made from them.
    r.predicates = {};
    for (const [name, type] of Object.entries(TYPES)) {
      const out = await cosignRun([
        "verify-attestation",
        "--type",
        type,
        "--policy",
        POLICY,
        ...flags,
        ref,
      ]);
      assert.equal(out.code, 0, `${type}: ${out.stderr}`);
      r.predicates[name] = attestedStatements(out.stdout)[0].predicate;
    }
    assert.equal(
      (r.predicates.sbom as Bom).serialNumber,
      r.sbom!.serialNumber,
      "the attested SBOM is the one kept",
    );

    own(r, ref);
    const name = testName("release-run");
    const started = await docker(["run", "-d", "--name", name, "-p", "127.0.0.1::80", ref]);
    assert.equal(started.code, 0, started.stderr);
    try {
      const port = (await dockerOk(["port", name, "80/tcp"])).split("\n")[0].split(":").pop();
      const health = await poll(async () => {
        try {
          const res = await fetchText(`http://127.0.0.1:${port}/health`, 2000);
          return res.status === 200 ? res : undefined;
        } catch {
          return undefined;
        }
      }, { timeoutMs: 30_000, intervalMs: 200 });
      assert.equal(health?.status, 200, "GET /health on the digest-pinned image");
    } finally {
      await docker(["rm", "-f", name]);
    }
  },
);

roundTest(
  "[release] the SBOM lists hono, eta, zod at deno.lock's versions and hashes, libc6 and Deno",
  async () => {
    const r = await setUp();
    assert.ok(r.sbom, "the release above produced an SBOM");
    const components = r.sbom.components!;
    for (const name of ["hono", "eta", "zod"]) {
      const key = Object.keys(LOCK.npm).find((k) => k.startsWith(`${name}@`))!;
      const version = key.slice(name.length + 1);
      const c = components.find((x) => x.purl === `pkg:npm/${name}@${version}`);
      assert.ok(c, `${name}@${version} in the SBOM`);
      const integrity = LOCK.npm[key].integrity.replace(/^sha512-/, "");
      const hex = Array.from(
        atob(integrity),
        (ch) => ch.charCodeAt(0).toString(16).padStart(2, "0"),
      ).join("");
      assert.deepEqual(c.hashes, [{ alg: "SHA-512", content: hex }], `${name}: deno.lock's hash`);
    }
    const libc = components.find((c) => c.name === "libc6");
    assert.ok(libc?.purl?.startsWith("pkg:deb/debian/libc6@"), "libc6 from the base image");
    assert.equal(components.find((c) => c.name === "deno")?.version, DENO_VERSION);
    assert.equal(r.sbom.metadata?.component?.version, r.report!.digest);
  },
);

roundTest(
  "[release] the attested provenance, proof and permissions describe this image and this source",
  async () => {
    const r = await setUp();
    const { provenance, "verify-proof": proof, permissions } = r.predicates as {
      provenance: Provenance;
      "verify-proof": VerifyProof;
      permissions: PermissionsPredicate;
    };
    const deps = Object.fromEntries(
      provenance.buildDefinition.resolvedDependencies.map((d) => [d.name, d]),
    );
    const head = (await git(["rev-parse", "HEAD"], r.src)).trim();
    // The clone has no remote: no URL another machine could fetch, only its commits.
    assert.equal(deps.source.uri, undefined, "no git+/path");
    assert.equal(deps.source.annotations?.repository, null);
    assert.deepEqual(deps.source.digest, { gitCommit: head });
    assert.equal(deps.source.annotations?.dirty, false);
    assert.equal(
      deps.source.annotations?.rootCommit,
      (await git(["rev-list", "--max-parents=0", "HEAD"], ROOT)).trim().split("\n").pop(),
    );
    for (
      const [name, ref] of [["DENO_IMAGE", BASES.images!.deno], [
        "RUNTIME_IMAGE",
        BASES.images!.runtime,
      ]]
    ) {
      const id = (await dockerOk(["image", "inspect", "--format", "{{.Id}}", ref])).replace(
        "sha256:",
        "",
      );
      const digests = JSON.parse(
        await dockerOk(["image", "inspect", "--format", "{{json .RepoDigests}}", ref]),
      );
      const own = (digests as string[]).find((d) =>
        d.startsWith(`${ref.replace(/:[^/:]+$/, "")}@`)
      );
      const expected = own ? own.split("@sha256:")[1] : id;
      assert.equal(deps[name].digest.sha256, expected, `${name}: the digest used`);
    }
    assert.equal(deps["deno.lock"].digest.sha256, await fileSha256(`${ROOT}/deno.lock`));
    assert.equal(provenance.buildDefinition.externalParameters.target, "runtime-deno");
    assert.equal(provenance.runDetails.builder.id, "urn:swft:builder:key-holder:v1");
    // cosign re-encodes the predicate through its SLSA v1 type: invocationID.
    const metadata = provenance.runDetails.metadata as unknown as Record<string, string>;
    assert.match(metadata.invocationID ?? metadata.invocationId, /^urn:uuid:/, "no run URL");
    const id = await dockerOk(["image", "inspect", "--format", "{{.Id}}", r.report!.reference!]);
    assert.equal(proof.testedImage.id, id, "verify tested the pushed image");
    // verify checked the very image pushed (--from its digest): only the build checks did not
    // run (--rebuild proves the build).
    assert.equal(proof.mode, "existing-image");
    assert.deepEqual(
      proof.checks.filter((c) => c.status !== "pass").map((c) => c.id).filter((id) =>
        !NOT_RUN_ON_EXISTING_IMAGE.includes(id)
      ),
      [],
    );
    // What a rebuild needs: the commit's time among the build arguments.
    const recorded = provenance.buildDefinition.externalParameters.buildArgs as Record<
      string,
      string
    >;
    assert.match(recorded.SOURCE_DATE_EPOCH, /^\d+$/);
    assert.equal(recorded.REVISION, (await git(["rev-parse", "HEAD"], r.src)).trim());
    const entrypoint = JSON.parse(
      await dockerOk([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}}",
        r.report!.reference!,
      ]),
    );
    assert.deepEqual(permissions.flags, entrypointFlags(entrypoint), "read from the image");
    assert.deepEqual([permissions.runtime, permissions.deno, permissions.source], [
      "deno",
      DENO_VERSION,
      "entrypoint",
    ]);
    // What runs, whole: the script, its arguments and the flags that are not permissions.
    assert.deepEqual(
      [permissions.script, permissions.args, permissions.runtimeFlags],
      ["/app/main.ts", ["serve"], ["--cached-only", "--frozen"]],
    );
    assert.deepEqual(permissions.command.entrypoint, entrypoint);
  },
);

/** `--rebuild` of `ref` from a fresh clone of the round's source in another folder. */
async function rebuild(r: Round, ref: string, args: string[] = []) {
  const third = `${r.dir}/third/clone`;
  await Deno.remove(third, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${r.dir}/third`, { recursive: true });
  await git(["clone", "--quiet", r.src, third], r.dir);
  return await release([
    "--rebuild",
    "--image",
    ref,
    "--key",
    r.pub,
    "--no-tlog",
    "--source",
    third,
    ...args,
  ]);
}

/** The project's policy requiring one rebuild attestation by the round's other key. */
async function requiringRebuild(r: Round): Promise<string> {
  const text = await Deno.readTextFile(POLICY);
  return await policyCopy(
    r,
    "rebuild-required",
    withParams(text, (params) => ({ ...params, rebuild: { required: 1, keys: [r.otherPub] } })),
  );
}

roundTest(
  "[release] --rebuild reproduces the release from a fresh clone, by its provenance alone",
  async () => {
    const r = await setUp();
    const ref = r.report!.reference!;
    const policy = await requiringRebuild(r);
    const without = await verifyOnly(ref, { policy });
    assert.equal(without.code, 1, "a policy requiring a rebuild refuses the release without one");
    assert.match(
      without.stderr,
      /failed at step verify-rebuilds: rule rebuild-required: 0 of the 1/,
    );
    // The rebuilder (the round's other key) rebuilds from a fresh clone and attests it.
    const result = await rebuild(r, ref, ["--attest", "--key", `${r.dir}/other.key`]);
    console.log(`--rebuild ${ref}: exit ${result.code}: ${result.stdout.trim()}`);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    assert.equal(result.stdout.trim().split("\n").pop(), `reproduced ${ref}`);
    assert.match(result.stderr, /rebuild-attest.*urn:swft:attestation:rebuild:v1/);
    const accepted = await verifyOnly(ref, { policy });
    assert.equal(accepted.code, 0, accepted.stderr.slice(-2000));
    assert.match(accepted.stderr, /verify-rebuilds.*1 rebuilders of 1 reproduced/);
  },
);

roundTest(
  "[release] a second release of the same commit, from another clone minutes later, pushes the same digest",
  async () => {
    const r = await setUp();
    // Another clone in another folder, as a second release job would have it (no remote, as
    // the round's); the release builds without cache, so no layer of the first is reused. To
    // the second registry, under a repository of its own: the first's attestations stay as
    // they are for the tests below.
    const clone = `${r.dir}/second-clone/deeper`;
    await Deno.mkdir(`${r.dir}/second-clone`);
    await git(["clone", "--quiet", r.src, clone], r.dir);
    await git(["remote", "remove", "origin"], clone);
    const image = `${r.second.address}/${REPO_NAME}-again:1.0.0`;
    own(r, image);
    const json = `${r.dir}/second-release.json`;
    const result = await release(buildRelease(r, image, json), {}, clone);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const second: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    console.log(`two releases of one commit: ${r.report!.digest} and ${second.digest}`);
    assert.equal(second.digest, r.report!.digest, "two clean releases of one commit, one digest");
  },
);

roundTest(
  "[release] refused: a rebuild attestation that names another digest, at rule rebuild-digest",
  async () => {
    const r = await setUp();
    const all = Object.entries(TYPES).map(([name, type]) => [type, r.predicates![name]]);
    const ref = await craft(r, "rebuilt-elsewhere", all as [string, unknown][]);
    const file = `${r.dir}/rebuild-elsewhere.json`;
    const digest = ref.split("@")[1];
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        image: { name: ref.split("@")[0], digest },
        source: { commit: "0".repeat(40) },
        rebuilder: { publicKeySha256: "0".repeat(64) },
        obtained: { digest: DIGEST_A },
        reproduced: true,
        rebuiltOn: new Date().toISOString(),
      }),
    );
    const attested = await cosignRun([
      "attest",
      "--yes",
      "--key",
      `${r.dir}/other.key`,
      ...LOOPBACK,
      "--tlog-upload=false",
      "--type",
      "urn:swft:attestation:rebuild:v1",
      "--predicate",
      file,
      ref,
    ]);
    assert.equal(attested.code, 0, attested.stderr);
    const result = await verifyOnly(ref, { policy: await requiringRebuild(r) });
    assert.equal(result.code, 1, result.stderr.slice(-2000));
    assert.match(
      result.stderr,
      new RegExp(`rule rebuild-digest: a rebuild attestation names ${DIGEST_A}, not ${digest}`),
    );
  },
);

roundTest(
  "[release] --rebuild refuses an image doctored by one file, signed with the release's provenance, naming the file",
  async () => {
    const r = await setUp();
    const dir = `${r.dir}/doctored`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/author.html`, "<p>someone else</p>\n");
    await Deno.writeTextFile(
      `${dir}/Dockerfile`,
      `FROM ${r.report!.reference!}\nCOPY author.html /app/static/author.html\n`,
    );
    const local = `${r.repo}-doctored-build:1`;
    own(r, local);
    const built = await docker(["build", "-q", "-t", local, dir]);
    assert.equal(built.code, 0, built.stderr);
    const ref = await craft(r, "doctored", [[TYPES.provenance, r.predicates!.provenance]], local);
    own(r, ref);
    const result = await rebuild(r, ref);
    console.log(`--rebuild ${ref}: exit ${result.code}: ${result.stderr.trim().split("\n").pop()}`);
    assert.equal(result.code, 1, result.stderr.slice(-2000));
    assert.match(
      result.stderr,
      /failed at step rebuild: rule rebuild: not reproduced: .*layer \d+ of \d+.*app\/static\/author\.html/,
    );
    assert.doesNotMatch(result.stdout, /reproduced/);
  },
);

roundTest('[release] --verify-only --policy accepts the release: exit 0, "verified"', async () => {
  const r = await setUp();
  const json = `${r.dir}/verify-only.json`;
  const result = await verifyOnly(r.image, { json });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), r.report!.reference);
  assert.match(result.stderr, /^release: verified under .*swft\.cue in /m);
  assert.doesNotMatch(result.stderr, /released/);
  // The consumer's re-check ran on the image pulled by digest, and agreed with the attestations.
  const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
  const recheck = report.steps.find((s) => s.id === "recheck");
  assert.equal(recheck?.status, "pass", recheck?.detail);
  assert.match(
    recheck!.detail,
    /verify-proof: \d+ image checks pass on the image \(image-labels, runtime-no-shell, .*runtime-user-nonroot.*healthcheck-defined.*\); permissions: --allow-\S+ .*from the image's entrypoint, as attested$/,
  );
  console.log(result.stderr.trim().split("\n").map((l) => `  ${l}`).join("\n"));
});

/** A refused image: crafted, refused at `rule` in one line, accepted by a policy without it. */
interface RefusedImage {
  name: string;
  rule: string;
  attest(r: Round): [string, unknown][];
  /** The policy without the rule. */
  without(text: string): string;
}

/** Every attestation of the accepted image, with `changed` predicates instead. */
const all = (r: Round, changed: Partial<Record<string, unknown>> = {}): [string, unknown][] =>
  Object.entries(TYPES).map(([name, type]) => [type, changed[name] ?? r.predicates![name]]);

const REFUSED: RefusedImage[] = [
  {
    name: "an image only signed (no attestations)",
    rule: "required-attestations",
    attest: () => [],
    without: (text) => requiring(text, []),
  },
  {
    name: "an SBOM-only image",
    rule: "required-attestations",
    attest: (r) => [["cyclonedx", r.sbom]],
    without: (text) => requiring(text, ["sbom"]),
  },
  ...PREDICATE_REFUSALS.map((refusal): RefusedImage => ({
    name: refusal.name,
    rule: refusal.rule,
    attest: (r) =>
      all(r, {
        [refusal.attestation]: refusedPredicate(refusal, r.predicates as unknown as Predicates),
      }),
    without: (text) => withoutRule(text, refusal.rule),
  })),
];

for (const refused of REFUSED) {
  roundTest(
    `[release] refused: ${refused.name}, at rule ${refused.rule}; without the rule, it passes`,
    async () => {
      const r = await setUp();
      const ref = await craft(
        r,
        refused.rule.replace(/[^a-z]/g, "").slice(0, 12) + REFUSED.indexOf(refused),
        refused.attest(r),
      );
      const result = await verifyOnly(ref);
      assert.equal(result.code, 1, result.stderr);
      const line = result.stderr.trim().split("\n").pop()!;
      assert.match(
        line,
        new RegExp(`^release: failed at step verify-attestations: rule ${refused.rule}: `),
      );
      console.log(`  ${line}`);
      const policy = await policyCopy(
        r,
        `without-${REFUSED.indexOf(refused)}`,
        refused.without(await Deno.readTextFile(POLICY)),
      );
      const json = `${r.dir}/without-${REFUSED.indexOf(refused)}.json`;
      const again = await verifyOnly(ref, { policy, json });
      const steps = (JSON.parse(await Deno.readTextFile(json)) as ReleaseReport).steps;
      assert.equal(
        steps.find((s) => s.id === "verify-attestations")?.status,
        "pass",
        `without ${refused.rule}: ${again.stderr}`,
      );
      // A permissions claim the image does not hold is also refused by the consumer's re-check.
      if (again.code !== 0) {
        assert.match(
          again.stderr.trim().split("\n").pop()!,
          /^release: failed at step recheck: rule permissions-recheck: /,
        );
      }
    },
  );
}

roundTest(
  "[release] refused: a scan with a fixable CRITICAL finding, at rule vuln-fixable, where the policy requires the scan",
  async () => {
    const r = await setUp();
    const finding = (fixed?: string) => ({
      scanner: {
        uri: "pkg:github/aquasecurity/trivy",
        version: "0.58.0",
        result: {
          SchemaVersion: 2,
          Results: [{
            Target: "image",
            Vulnerabilities: [{
              VulnerabilityID: "CVE-2099-0001",
              PkgName: "libc6",
              Severity: "CRITICAL",
              ...(fixed ? { FixedVersion: fixed } : {}),
            }],
          }],
        },
      },
      metadata: { scanStartedOn: "2026-01-01T00:00:00Z", scanFinishedOn: "2026-01-01T00:00:01Z" },
    });
    const withScan = await policyCopy(
      r,
      "with-scan",
      withParams(await Deno.readTextFile(POLICY), (params) => ({
        ...params,
        attestations: [
          ...params.attestations,
          kindOf(attestationNamed("vuln")),
        ],
      })),
    );
    const fixable = await craft(r, "vulnfixable", [...all(r), ["vuln", finding("2.41-2")]]);
    const result = await verifyOnly(fixable, { policy: withScan });
    assert.equal(result.code, 1, result.stderr);
    const line = result.stderr.trim().split("\n").pop()!;
    assert.match(
      line,
      /rule vuln-fixable: CVE-2099-0001 in libc6 \(fixable CRITICAL, fixed in 2\.41-2\); policy \S+$/,
    );
    console.log(`  ${line}`);
    const unfixed = await craft(r, "vulnunfixed", [...all(r), ["vuln", finding()]]);
    assert.equal(
      (await verifyOnly(unfixed, { policy: withScan })).code,
      0,
      "no fix yet: not refused",
    );
  },
);

roundTest("[release] refused: the right image under a wrong key, at the signature", async () => {
  const r = await setUp();
  const result = await verifyOnly(r.report!.reference!, { pub: r.otherPub });
  assert.equal(result.code, 1);
  const line = result.stderr.trim().split("\n").pop()!;
  assert.match(
    line,
    /^release: failed at step verify-signature: .*(no matching signatures|invalid signature)/i,
  );
  console.log(`  ${line}`);
});

roundTest(
  "[release] without --no-tlog and no transparency log reachable: one line that names --no-tlog",
  async () => {
    const r = await setUp();
    const result = await release([
      "--verify-only",
      "--image",
      r.report!.reference!,
      "--key",
      r.pub,
    ]);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split("\n");
    const line = lines[lines.length - 1];
    if (/Cannot reach the transparency log/.test(line)) {
      assert.match(
        line,
        /^release: failed at step verify-signature: .*Cannot reach the transparency log \(.+\): .*--no-tlog/,
      );
      console.log(`  ${line}`);
    } else {
      // A machine that reaches the public log (GitHub's runners): the image was signed without
      // one, so it has no entry there, and is refused all the same.
      assert.match(line, /^release: failed at step verify-signature: /);
    }
    assert.ok(!lines.some((l) => /retrying|giving up after/i.test(l)), "no retries printed");
  },
);

/**
 * An image an attacker derives from the accepted one with docker (`lines` after its FROM),
 * pushed to its own repository, signed with the round's key and given the accepted image's
 * attestations, its verify proof forged: the accepted image's pass report with the derived
 * image's config digest written in (as the release's own check of the tested image wants).
 */
async function derived(r: Round, label: string, lines: string[]): Promise<string> {
  const dir = `${r.dir}/${label}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    [`FROM ${r.report!.reference!}`, ...lines, ""].join("\n"),
  );
  const tag = `${r.repo}-${label}:built`;
  own(r, tag);
  const built = await docker(["build", "--quiet", "--tag", tag, dir]);
  assert.equal(built.code, 0, built.stderr);
  return await craft(r, label, async (ref) => {
    const proof = structuredClone(r.predicates!["verify-proof"]) as VerifyProof;
    const config = await configDigest(ref, { loopback: true });
    proof.images.runtime.id = config;
    proof.testedImage.id = config;
    return all(r, { "verify-proof": proof });
  }, tag);
}

/** `--verify-only --policy` on `ref`: exit 1 at step recheck, every step before it passed. */
async function refusedAtRecheck(r: Round, ref: string, label: string): Promise<string> {
  const json = `${r.dir}/${label}.json`;
  const result = await verifyOnly(ref, { json });
  assert.equal(result.code, 1, result.stderr);
  // Without the re-check the image would be accepted: signature and policy hold.
  const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
  assert.deepEqual(report.steps.map((s) => [s.id, s.status]), [
    ["verify-signature", "pass"],
    ["verify-attestations", "pass"],
    ["recheck", "fail"],
  ]);
  const line = result.stderr.trim().split("\n").pop()!;
  console.log(`  ${line}`);
  return line;
}

roundTest(
  "[release] refused: a forged verify proof (all pass) on a derived image with a shell and USER 0, at rule verify-recheck",
  async () => {
    const r = await setUp();
    const ref = await derived(r, "forged", [
      `COPY --from=${BASES.images!.deno} /bin/dash /bin/sh`,
      "USER 0",
    ]);
    const line = await refusedAtRecheck(r, ref, "forged");
    assert.match(
      line,
      /^release: failed at step recheck: rule verify-recheck: runtime-no-shell attested pass, fails on the image: shell present: \S*\/sh\b.*; runtime-user-nonroot attested pass, fails on the image: runs as root .*; the attestation does not describe this image: do not deploy it, release it again/,
    );
  },
);

roundTest(
  "[release] refused: a derived image whose entry point adds --allow-run under the accepted permissions, at rule permissions-recheck",
  async () => {
    const r = await setUp();
    const permissions = r.predicates!.permissions as PermissionsPredicate;
    // The accepted command line with one more permission (--allow-all would also fail the
    // re-run verify check runtime-read-no-links first: it reads / and every link in it).
    const [deno, run, ...rest] = permissions.entrypoint;
    const entrypoint = [deno, run, "--allow-run", ...rest];
    const ref = await derived(r, "widened", [`ENTRYPOINT ${JSON.stringify(entrypoint)}`]);
    const line = await refusedAtRecheck(r, ref, "widened");
    assert.match(
      line,
      /^release: failed at step recheck: rule permissions-recheck: the image's entrypoint gives --allow-run, which is not attested; the attestation does not describe this image/,
    );
  },
);

roundTest(
  "[release] --verify-report is gone: a report from a file is refused before anything runs",
  async () => {
    const r = await setUp();
    const file = `${r.dir}/proof.json`;
    await Deno.writeTextFile(file, JSON.stringify(r.predicates!["verify-proof"]));
    const image = `${r.repo}:from-file`;
    const result = await release([
      "--from",
      r.report!.reference!,
      "--image",
      image,
      "--key",
      r.key,
      "--no-tlog",
      "--verify-report",
      file,
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--verify-report was removed: .*; drop the flag/);
    assert.notEqual((await docker(["image", "inspect", image])).code, 0, "nothing tagged");
  },
);

roundTest(
  "[release] a release its policy refuses (a dirty tree) stops at step policy: nothing signed, nothing attested",
  async () => {
    const r = await setUp();
    // A new repository: the same digest there has no signature of the round's first release.
    const repo = `${r.repo}-refused`;
    const image = `${repo}:1`;
    own(r, image);
    const json = `${r.dir}/refused.json`;
    await Deno.writeTextFile(`${r.src}/uncommitted.txt`, "x\n");
    let result;
    try {
      result = await releaseAgain(r, image, json, { CDXGEN: await cdxgenOfRound(r) }, [
        "--allow-dirty",
        "--policy",
        POLICY,
      ]);
    } finally {
      await Deno.remove(`${r.src}/uncommitted.txt`);
    }
    assert.equal(result.code, 1, result.stderr.slice(-2000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    // As an attacker would look: the pushed digest carries no signature, no attestation.
    const ref = `${repo}@${report.digest}`;
    const flags = ["--key", r.pub, ...LOOPBACK, "--insecure-ignore-tlog"];
    const signature = await cosignRun(["verify", ...flags, ref]);
    assert.notEqual(signature.code, 0, `cosign verify ${ref} found a signature`);
    assert.match(signature.stderr, /no (matching )?signatures/i);
    const attested = await cosignRun([
      "verify-attestation",
      "--type",
      "slsaprovenance1",
      ...flags,
      ref,
    ]);
    assert.notEqual(attested.code, 0, `cosign verify-attestation ${ref} found an attestation`);
    const line = result.stderr.trim().split("\n").pop()!;
    assert.match(line, /^release: failed at step policy: rule provenance-clean-tree: /);
    console.log(`  ${line}`);
    assert.deepEqual(
      report.steps.filter((s) => ["sign", "attest"].includes(s.id)).map((s) => s.detail),
      ["not run: policy failed", "not run: policy failed"],
    );
  },
);

roundTest(
  "[release] a dirty work tree is refused at step source, before anything is built",
  async () => {
    const r = await setUp();
    await Deno.writeTextFile(`${r.src}/uncommitted.txt`, "x\n");
    try {
      const image = `${r.repo}:dirty`;
      const result = await release([
        "--image",
        image,
        "--from",
        r.report!.reference!,
        "--key",
        r.key,
        "--no-tlog",
      ]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /failed at step source: Cannot release a dirty work tree: 1 paths have uncommitted changes \(uncommitted\.txt\); .*--allow-dirty/,
      );
      assert.notEqual((await docker(["image", "inspect", image])).code, 0, "nothing tagged");
    } finally {
      await Deno.remove(`${r.src}/uncommitted.txt`);
    }
  },
);

roundTest(
  "[release] an image pushed before (TAG@DIGEST, as buildx leaves it) is pulled, proven, signed and verified",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/pushed.json`;
    const result = await releaseAgain(r, `${r.image}@${r.report!.digest}`, json, {
      CDXGEN: await cdxgenOfRound(r),
    });
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(
      report.steps.map((s) => s.id),
      FROM_STEPS.filter((id) => id !== "push").map((id) => id === "tag" ? "pull" : id),
    );
    assert.equal(report.reference, r.report!.reference);
  },
);

roundTest(
  "[release] a tag overwritten between push and sign: the signature follows the digest, the tag fails",
  async () => {
    const r = await setUp();
    const image = `${r.repo}:race`;
    own(r, image);
    const json = `${r.dir}/race.json`;
    const running = releaseAgain(r, image, json);
    // As soon as the task's push has landed (it then spends seconds on the SBOM before
    // signing), another image is pushed to the same tag, as an attacker or a mistaken push would.
    const landed = await poll(async () => {
      const res = await fetch(`http://${r.registry.address}/v2/${REPO_NAME}/manifests/race`, {
        method: "HEAD",
        headers: { Accept: MANIFEST_TYPES },
      });
      return res.status === 200 || undefined;
    }, { timeoutMs: 120_000, intervalMs: 50 });
    assert.ok(landed, "the task pushed the tag");
    await dockerOk(["tag", BASES.images!.runtime, image]);
    const push = await docker(["push", image]);
    assert.equal(push.code, 0, push.stderr);
    const result = await running;
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.digest, r.report!.digest, "signed the digest it pushed");
    assert.ok(report.signature.verified);

    const byTag = await verifyOnly(image);
    assert.equal(byTag.code, 1, byTag.stderr);
    assert.match(byTag.stderr, /failed at step verify-signature: .*no (matching )?signatures/i);
    const byDigest = await verifyOnly(r.report!.reference!);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.equal(byDigest.stdout.trim(), r.report!.reference);
  },
);

roundTest(
  "[release] registry unreachable: exit 1 at step push, nothing reported as released",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/unreachable.json`;
    const image = `127.0.0.1:${freePort()}/${REPO_NAME}:1.0.0`;
    own(r, image);
    const result = await releaseAgain(r, image, json);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /release: failed at step push: docker push /);
    assert.equal(result.stdout.trim(), "", "no reference printed");
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.ok, false);
    assert.equal(report.reference, null);
    assert.deepEqual(report.steps.map((s) => s.status), [
      "pass",
      "pass",
      "pass",
      "fail",
      ...Array(9).fill("skip"),
    ]);
    assert.equal(report.signature.verified, false);
  },
);

roundTest(
  "[release] wrong key password: exit 1 at step key, before anything is pushed",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/password.json`;
    const image = `${r.repo}:wrong-password`;
    const result = await releaseAgain(r, image, json, { COSIGN_PASSWORD: "not-the-password" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /release: failed at step key: cosign public-key .*decrypt/i);
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.ok, false);
    assert.equal(report.reference, null);
    assert.deepEqual(report.steps.map((s) => s.status), ["fail", ...Array(12).fill("skip")]);
    assert.deepEqual(report.signature, { verified: false, mode: "key" });
    assert.ok(report.attestations.every((a) => !a.verified));
    const tag = await fetch(
      `http://${r.registry.address}/v2/${REPO_NAME}/manifests/wrong-password`,
      { method: "HEAD" },
    );
    assert.equal(tag.status, 404, "nothing pushed");
    assert.notEqual((await docker(["image", "inspect", image])).code, 0, "nothing tagged");
  },
);

roundTest("[release] an unsigned image is refused by the verification step", async () => {
  const r = await setUp();
  const image = `${r.repo}:unsigned`;
  own(r, image);
  await dockerOk(["tag", BASES.images!.runtime, image]);
  assert.equal((await docker(["push", image])).code, 0);
  const result = await release(["--verify-only", "--image", image, "--key", r.pub, "--no-tlog"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /failed at step verify-signature/);
});

roundTest(
  "[release] air gap: --save DIR, cosign load into a second registry, verified there with the first one gone",
  async () => {
    const r = await setUp();
    const target = `${r.second.address}/${REPO_NAME}`;
    const load = await cosignRun(["load", "--dir", `${r.dir}/saved`, ...LOOPBACK, target]);
    assert.equal(load.code, 0, load.stderr);
    await r.registry.stop(); // no way back to the origin
    const result = await verifyOnly(`${target}@${r.report!.digest}`);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), `${target}@${r.report!.digest}`);
  },
);

roundTest("[release] clean-up: the registries stop, local tags and keys are removed", async () => {
  const created = round ? [...round.created] : [];
  await tearDown();
  for (const ref of created) {
    assert.notEqual((await docker(["image", "inspect", ref])).code, 0, `${ref} removed`);
  }
});
