/**
 * `deno task release`: the pieces without tools (references, digests, the SBOM merge, the
 * command line), then the whole round on this machine: a local registry (Debian's
 * docker-registry), a cosign key pair, a release of `runtime-deno` from the test bases,
 * what a consumer verifies, a tag overwritten between push and sign, and the failures a user
 * meets (registry unreachable, wrong key password, an unsigned image).
 *
 * The round needs cosign and cdxgen (PATH, or COSIGN / CDXGEN), docker-registry, a Docker
 * engine and base images. Where one is missing the round is skipped with the reason and
 * the command that installs it; under CI (`CI=true`) it runs anyway and fails, so a CI run
 * cannot pass without it. The bases follow the container tests' rule (tests/_base_images.ts);
 * names come from `testName` (prefix `SWFT_TEST_NAME_PREFIX`); it removes what it creates.
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
import { appPackages, type Bom, type Component, mergeBoms } from "../tasks/release/sbom.ts";
import { type LocalRegistry, registryCommand, startRegistry } from "../tasks/release/registry.ts";
import { baseImageFlags, BASES, IN_CI, requiredTest, testName } from "./_container.ts";
import { attestedStatements, cosignCommand, verifiedDigests } from "../tasks/release/cosign.ts";
import { cdxgenCommand } from "../tasks/release/sbom.ts";

const LOCK = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.lock`));
const DIGEST_A = `sha256:${"a".repeat(64)}`;

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
    /already pushed/,
  );
  usage(
    ["--image", "127.0.0.1:5000/swft:1", "--key", "deno.json", "--from", "x", "--target", "t"],
    /--from takes a built image/,
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
  const verify = ["verify-signature", "verify-attestation"];
  const publish = ["sbom", "sign", "attest", ...verify];
  assert.deepEqual(ids(["--image", "127.0.0.1:5000/swft:1", ...key]), [
    "key",
    "build",
    "push",
    ...publish,
  ]);
  assert.deepEqual(ids(["--image", "127.0.0.1:5000/swft:1", "--from", "x", ...key]), [
    "key",
    "tag",
    "push",
    ...publish,
  ]);
  assert.deepEqual(ids(["--image", `127.0.0.1:5000/swft:1@${DIGEST_A}`, ...key]), [
    "key",
    "pull",
    ...publish,
  ]);
  assert.deepEqual(ids(["--verify-only", "--image", "127.0.0.1:5000/swft:1", ...key]), verify);
});

Deno.test("release without cosign: the first failed step ends the run, exit 1, the rest skipped", async () => {
  await using cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-release-test-");
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
    ...["tag", "push", "sbom", "sign", "attest", "verify-signature", "verify-attestation"]
      .map((id) => [id, "skip", "not run: key failed"]),
  ]);
  assert.ok(report.steps.every((s) => Object.keys(s).join() === "id,status,detail,ms"));
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

const INSTALL = "bash .ci/install_tools.sh && export PATH=/opt/swft-tools/bin:$PATH";

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

/** What the round's steps share, set up once. */
interface Round {
  registry: LocalRegistry;
  dir: string;
  key: string;
  pub: string;
  repo: string;
  image: string;
  report?: ReleaseReport;
  stdout?: string;
  sbom?: Bom;
  /** Local tags and digest references the round created, removed by its clean-up. */
  created: Set<string>;
  /** Removes what the round created: tags, the registry, the key folder. */
  cleanup: CleanupStack;
}

/** Records a local tag or reference of the round, to remove at its end. */
function own(r: Round, ref: string): void {
  r.created.add(ref);
  r.cleanup.defer(async () => void await docker(["rmi", ref]));
}
let round: Round | undefined;

async function setUp(): Promise<Round> {
  if (SKIP) throw new Error(`Cannot run the release round: ${SKIP}`);
  if (round) return round;
  const cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-release-test-");
  const registry = await startRegistry(freePort());
  cleanup.defer(() => registry.stop());
  const keys = await run(cosignCommand(), [
    "generate-key-pair",
    "--output-key-prefix",
    `${dir}/cosign`,
  ], {
    env: { COSIGN_PASSWORD: PASSWORD },
  });
  assert.equal(keys.code, 0, keys.stderr);
  const repo = `${registry.address}/${REPO_NAME}`;
  round = {
    registry,
    dir,
    key: `${dir}/cosign.key`,
    pub: `${dir}/cosign.pub`,
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

function release(args: string[], env: Record<string, string> = {}) {
  return runDeno(["task", "release", ...args], {
    cwd: ROOT,
    env: { COSIGN_PASSWORD: PASSWORD, ...env },
  });
}

/** Releases the round's first image again under `image`, with the round's key, offline. */
function releaseFrom(r: Round, image: string, json: string, env: Record<string, string> = {}) {
  const args = ["--from", r.report!.reference!, "--image", image, "--key", r.key, "--no-tlog"];
  return release([...args, "--json", json], env);
}

function cosignRun(args: string[]) {
  return run(cosignCommand(), args);
}

const roundTest = (name: string, fn: () => Promise<void>) => requiredTest(name, SKIP, fn);

roundTest(
  "[release] runtime-deno: pushed, signed and attested by digest, report and reference",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/release.json`;
    const sbom = `${r.dir}/sbom.cdx.json`;
    const result = await release([
      "--image",
      r.image,
      "--target",
      "runtime-deno",
      ...baseImageFlags(BASES.images!),
      "--key",
      r.key,
      "--no-tlog",
      "--json",
      json,
      "--sbom",
      sbom,
    ]);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    r.report = report;
    r.sbom = JSON.parse(await Deno.readTextFile(sbom));
    assert.equal(report.tool, "swft-release");
    assert.equal(report.ok, true);
    assert.match(report.digest ?? "", /^sha256:[0-9a-f]{64}$/);
    assert.equal(report.reference, `${r.repo}@${report.digest}`);
    assert.equal(result.stdout.trim().split("\n").pop(), report.reference, "stdout: the reference");
    assert.deepEqual(report.steps.map((s) => [s.id, s.status]), [
      ["key", "pass"],
      ["build", "pass"],
      ["push", "pass"],
      ["sbom", "pass"],
      ["sign", "pass"],
      ["attest", "pass"],
      ["verify-signature", "pass"],
      ["verify-attestation", "pass"],
    ]);
    assert.deepEqual(report.signature, { verified: true, mode: "key" });
    assert.deepEqual(report.attestations, [{ type: "cyclonedx", verified: true }]);
    assert.deepEqual(report.sbom, { path: sbom, components: r.sbom!.components!.length });
    // The digest is the registry's, not the local image ID.
    const registryDigest =
      (await fetch(`http://${r.registry.address}/v2/${REPO_NAME}/manifests/1.0.0`, {
        method: "HEAD",
        headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
      })).headers.get("docker-content-digest");
    assert.equal(report.digest, registryDigest);
    const labels = JSON.parse(
      await dockerOk(["image", "inspect", "-f", "{{json .Config.Labels}}", r.image]),
    );
    assert.equal(
      labels["org.opencontainers.image.version"],
      JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)).version,
    );
    assert.match(labels["org.opencontainers.image.revision"], /^[0-9a-f]{40}$|^unknown$/);
    assert.ok(
      !Number.isNaN(Date.parse(labels["org.opencontainers.image.created"])),
      "created label",
    );
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
  "[release] a consumer verifies the digest with cosign and the public key; docker run serves /health",
  async () => {
    const r = await setUp();
    const ref = r.report!.reference!;
    const flags = [
      "--key",
      r.pub,
      "--allow-http-registry",
      "--allow-insecure-registry",
      "--insecure-ignore-tlog",
    ];
    const verify = await cosignRun(["verify", ...flags, ref]);
    assert.equal(verify.code, 0, verify.stderr);
    const attestation = await cosignRun([
      "verify-attestation",
      "--type",
      "cyclonedx",
      ...flags,
      ref,
    ]);
    assert.equal(attestation.code, 0, attestation.stderr);
    const sbom = attestedStatements(attestation.stdout)[0].predicate as Bom;
    assert.equal(sbom.serialNumber, r.sbom!.serialNumber, "the attested SBOM is the one kept");

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
  "[release] an image pushed before (TAG@DIGEST, as buildx leaves it) is pulled, signed and verified",
  async () => {
    const r = await setUp();
    const json = `${r.dir}/pushed.json`;
    const result = await release([
      "--image",
      `${r.image}@${r.report!.digest}`,
      "--key",
      r.key,
      "--no-tlog",
      "--json",
      json,
    ]);
    assert.equal(result.code, 0, result.stderr.slice(-2000));
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.deepEqual(report.steps.map((s) => s.id), [
      "key",
      "pull",
      "sbom",
      "sign",
      "attest",
      "verify-signature",
      "verify-attestation",
    ]);
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
    const running = releaseFrom(r, image, json);
    // As soon as the task's push has landed (it then spends seconds on the SBOM before
    // signing), another image is pushed to the same tag, as an attacker or a mistaken push would.
    const landed = await poll(async () => {
      const res = await fetch(`http://${r.registry.address}/v2/${REPO_NAME}/manifests/race`, {
        method: "HEAD",
        headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
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

    const byTag = await release(["--verify-only", "--image", image, "--key", r.pub, "--no-tlog"]);
    assert.equal(byTag.code, 1, byTag.stderr);
    assert.match(byTag.stderr, /failed at step verify-signature: .*no (matching )?signatures/i);
    const byDigest = await release([
      "--verify-only",
      "--image",
      r.report!.reference!,
      "--key",
      r.pub,
      "--no-tlog",
    ]);
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
    const result = await releaseFrom(r, image, json);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /release: failed at step push: docker push /);
    assert.equal(result.stdout.trim(), "", "no reference printed");
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.ok, false);
    assert.equal(report.reference, null);
    assert.deepEqual(report.steps.map((s) => s.status), [
      "pass",
      "pass",
      "fail",
      "skip",
      "skip",
      "skip",
      "skip",
      "skip",
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
    const result = await releaseFrom(r, image, json, { COSIGN_PASSWORD: "not-the-password" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /release: failed at step key: cosign public-key .*decrypt/i);
    const report: ReleaseReport = JSON.parse(await Deno.readTextFile(json));
    assert.equal(report.ok, false);
    assert.equal(report.reference, null);
    assert.deepEqual(report.steps.map((s) => s.status), ["fail", ...Array(7).fill("skip")]);
    assert.deepEqual(report.signature, { verified: false, mode: "key" });
    assert.deepEqual(report.attestations, [{ type: "cyclonedx", verified: false }]);
    const tag = await fetch(
      `http://${r.registry.address}/v2/${REPO_NAME}/manifests/wrong-password`,
      {
        method: "HEAD",
      },
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

roundTest("[release] clean-up: the registry stops, local tags and keys are removed", async () => {
  const created = round ? [...round.created] : [];
  await tearDown();
  for (const ref of created) {
    assert.notEqual((await docker(["image", "inspect", ref])).code, 0, `${ref} removed`);
  }
});
