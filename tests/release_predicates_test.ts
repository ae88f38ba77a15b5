/**
 * The release's predicates without tools: Deno permissions read from an ENTRYPOINT or a
 * compiled binary's metadata, the SLSA v1 provenance's shape, the git facts of a clone without
 * a remote, verify's proof and the rules by which the release refuses to attest it, and
 * cosign's retries against an unreachable transparency log turned into one line.
 */
import assert from "node:assert/strict";
import { ROOT, run } from "../tasks/_lib/mod.ts";
import { withParams } from "./_policy.ts";
import { cosignFailure } from "../tasks/release/cosign.ts";
import {
  binaryFlags,
  COMPILE_MAGIC,
  compiledMetadata,
  compiledRun,
  entrypointFlags,
  imageRun,
  permissionsPredicate,
} from "../tasks/release/attestations/permissions.ts";
import { groupFlags } from "../tasks/_lib/deno_run.ts";
import {
  BUILD_TYPE,
  buildProvenance,
  dockerPurl,
  fileSha256,
  GITHUB_BUILDER,
  gitSource,
  KEY_HOLDER_BUILDER,
  KEYLESS_BUILDER,
  PROVENANCE_TYPE,
  type ProvenanceInputs,
} from "../tasks/release/attestations/provenance.ts";
import { proofRefusal, verifyProof } from "../tasks/release/attestations/verify_proof.ts";
import { toolCommand } from "../tasks/release/tools.ts";
import type { Report } from "../tasks/verify/report.ts";
import { parseVerifyArgs } from "../tasks/verify/args.ts";
import { scanStep } from "../tasks/release/attestations/vuln.ts";
import type { ReleaseRun } from "../tasks/release/run.ts";
import { runtimeDenoEntrypoint } from "./_trust_fixtures.ts";

Deno.test("permissions: runtime-deno's are read from the image's ENTRYPOINT, in long form", () => {
  const flags = entrypointFlags(runtimeDenoEntrypoint());
  assert.ok(flags.length >= 3 && flags.every((f) => /^--(allow|deny)-/.test(f)), `${flags}`);
  assert.ok(!flags.includes("--cached-only"), "not a permission");
  assert.deepEqual(
    entrypointFlags(["deno", "run", "-N=0.0.0.0", "-A", "--frozen", "main.ts", "--allow-all"]),
    ["--allow-net=0.0.0.0", "--allow-all"],
    "short flags normalised; the app's own arguments after the module are not deno's",
  );
  assert.throws(
    () => entrypointFlags(["/app/swft"]),
    /deno-run-grammar: "\/app\/swft" is not a deno/,
  );
  assert.throws(() => entrypointFlags(["deno", "run", "-P", "main.ts"]), /config file/);
});

Deno.test("permissions: grouped by kind; a bare flag is everything", () => {
  assert.deepEqual(groupFlags(["--allow-net=a,b", "--allow-env", "--deny-env=X"]), {
    allow: { net: ["a", "b"], env: ["*"] },
    deny: { env: ["X"] },
  });
  const run = { permissions: ["--allow-read=/app"], runtime: [], script: "m.ts", args: [] };
  const predicate = permissionsPredicate({ ...run, source: "entrypoint", env: [] }, {
    deno: "2.9.6",
    entrypoint: ["deno"],
  });
  assert.deepEqual(
    [predicate.runtime, predicate.deno, predicate.flags],
    ["deno", "2.9.6", ["--allow-read=/app"]],
  );
});

/**
 * A binary laid out as deno compile lays it out (cli/standalone/binary.rs): the runtime's
 * code (which itself holds the magic, as denort does), then the data section `d3n0l4nd`,
 * the metadata's length as a little-endian u64, the metadata JSON, the npm snapshot and
 * the rest, and `d3n0l4nd` again. The compiled target cannot be built here (no denort): this
 * synthetic file is what the reader is tested on.
 */
function compiledBinary(metadata: unknown, code: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(metadata));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
  const magic = new TextEncoder().encode(COMPILE_MAGIC);
  return new Uint8Array([...code, ...magic, ...length, ...json, ...new Uint8Array(8), ...magic]);
}

/** Deno 2.9's `Metadata` with `PermissionsOptions` as serde writes them. */
const METADATA = {
  argv: [],
  seed: null,
  code_cache_key: null,
  permissions: {
    allow_env: ["PORT", "HOST"],
    deny_env: null,
    ignore_env: null,
    allow_net: ["0.0.0.0"],
    deny_net: null,
    allow_read: null,
    allow_write: [],
    allow_import: null,
    prompt: false,
  },
  location: null,
  v8_flags: [],
  unsafely_ignore_certificate_errors: null,
  entrypoint_key: "main.ts", // relative to the compile root (specifier_key)
  preload_modules: [],
  require_modules: [],
};

Deno.test("permissions: a compiled binary's are read from the metadata deno compile embeds", () => {
  // The runtime's code holds the magic too (its section name), with no length after it.
  const code = new Uint8Array([
    ...new Uint8Array(4096).map((_, i) => (i * 7) % 256),
    ...new TextEncoder().encode(`${COMPILE_MAGIC}\0section`),
  ]);
  const binary = compiledBinary(METADATA, code);
  assert.deepEqual(binaryFlags(binary), [
    "--allow-env=PORT,HOST",
    "--allow-net=0.0.0.0",
    "--allow-write",
  ]);
  assert.equal(compiledMetadata(binary)?.entrypoint_key, "main.ts");
  assert.equal(binaryFlags(code), undefined, "no metadata: undefined");
  const seeded = compiledRun({ ...METADATA, seed: 1, location: "https://x/" }, ["serve"]);
  assert.deepEqual(seeded.runtime, ["--location=https://x/", "--seed=1"]);
  assert.deepEqual(seeded.args, ["serve"]);
  const twice = new Uint8Array([...binary, ...compiledBinary({ ...METADATA, seed: 2 }, code)]);
  assert.throws(() => compiledMetadata(twice), /rule permissions-source: .*2 different/);
  assert.throws(
    () => compiledRun({ ...METADATA, preload_modules: ["file:///evil.ts"] }, []),
    /rule deno-run-grammar: the binary preloads "file:\/\/\/evil.ts"/,
  );
});

Deno.test("permissions: an entry point neither deno run nor compiled is refused, never read from deno.json", async () => {
  // A copy of the deno binary at /app/swft: no deno compile metadata in it.
  const denoItself = await Deno.readFile(Deno.execPath());
  const copy = { Entrypoint: ["/app/swft"], Cmd: ["run", "-A", "/app/main.ts"] };
  await assert.rejects(
    () => imageRun(copy, () => Promise.resolve(denoItself)),
    /^Error: rule permissions-source: the entry point "\/app\/swft" is neither deno run nor a binary made by deno compile/,
  );
  const compiled = compiledBinary(METADATA, new Uint8Array(64));
  const run = await imageRun(
    { Entrypoint: ["/app/swft"], Cmd: ["serve"], Env: ["PORT=80", "DENO_USE_CGROUPS=1"] },
    () => Promise.resolve(compiled),
  );
  assert.deepEqual([run.source, run.script, run.args, run.env], [
    "binary",
    "main.ts",
    ["serve"],
    ["DENO_USE_CGROUPS=1"],
  ]);
  await assert.rejects(
    () =>
      imageRun(
        { Entrypoint: runtimeDenoEntrypoint(), Env: ["NODE_OPTIONS=--inspect=0.0.0.0:9229"] },
        () => Promise.resolve(undefined),
      ),
    /rule permissions-source: the image sets NODE_OPTIONS=--inspect=0.0.0.0:9229/,
  );
});

function inputs(overrides: Partial<ProvenanceInputs> = {}): ProvenanceInputs {
  return {
    source: {
      repository: "https://git.example/acme/swft.git",
      commit: "a".repeat(40),
      rootCommit: "b".repeat(40),
      dirty: false,
      changedPaths: 0,
      changed: [],
      hidden: [],
    },
    dockerfile: "Dockerfile",
    target: "runtime-deno",
    buildArgs: ["DENO_IMAGE=swft-standin/deno:2.9.6", "VERSION=1.0.0"],
    bases: [
      {
        name: "DENO_IMAGE",
        ref: "swft-standin/deno:2.9.6",
        sha256: "c".repeat(64),
        digestOf: "engine-image-id",
      },
    ],
    lockSha256: "d".repeat(64),
    dockerVersion: "20.10.24",
    deno: "2.9.6",
    signer: "key",
    builtBy: "release",
    version: "1.0.0",
    startedOn: "2026-01-01T00:00:00.000Z",
    finishedOn: "2026-01-01T00:00:10.000Z",
    ...overrides,
  };
}

Deno.test("provenance: SLSA v1 with the source commit, each base image by digest and deno.lock", () => {
  const p = buildProvenance(inputs());
  assert.equal(p.buildDefinition.buildType, BUILD_TYPE);
  assert.deepEqual(p.buildDefinition.externalParameters.buildArgs, {
    DENO_IMAGE: "swft-standin/deno:2.9.6",
    VERSION: "1.0.0",
  });
  assert.equal(p.buildDefinition.externalParameters.target, "runtime-deno");
  assert.equal(p.buildDefinition.externalParameters.dockerfile, "Dockerfile");
  assert.deepEqual(p.buildDefinition.internalParameters, { deno: "2.9.6", docker: "20.10.24" });
  const [source, deno, lock] = p.buildDefinition.resolvedDependencies;
  assert.equal(source.uri, `git+https://git.example/acme/swft.git@${"a".repeat(40)}`);
  assert.deepEqual(source.digest, { gitCommit: "a".repeat(40) });
  assert.equal(source.annotations?.rootCommit, "b".repeat(40));
  assert.deepEqual(deno.digest, { sha256: "c".repeat(64) });
  assert.equal(deno.uri, "pkg:docker/swft-standin/deno@2.9.6");
  assert.deepEqual(lock, {
    name: "deno.lock",
    uri: "file:deno.lock",
    digest: { sha256: "d".repeat(64) },
  });
  assert.equal(p.runDetails.builder.id, KEY_HOLDER_BUILDER);
  assert.match(p.runDetails.metadata.invocationId, /^urn:uuid:/);
  assert.equal(p.runDetails.metadata.startedOn, "2026-01-01T00:00:00.000Z");
  assert.equal(PROVENANCE_TYPE, "https://slsa.dev/provenance/v1");
});

Deno.test("provenance: keyless on a GitHub-hosted runner, the builder and invocation are the workflow run's", () => {
  const p = buildProvenance(inputs({
    signer: "keyless",
    env: {
      GITHUB_ACTIONS: "true",
      RUNNER_ENVIRONMENT: "github-hosted",
      GITHUB_SERVER_URL: "https://github.com",
      GITHUB_REPOSITORY: "acme/swft",
      GITHUB_WORKFLOW_REF: "acme/swft/.github/workflows/release.yml@refs/tags/v1.0.0",
      GITHUB_RUN_ID: "42",
      GITHUB_RUN_ATTEMPT: "2",
    },
  }));
  assert.equal(p.runDetails.builder.id, GITHUB_BUILDER);
  assert.equal(
    p.runDetails.metadata.invocationId,
    "https://github.com/acme/swft/actions/runs/42/attempts/2",
  );
  assert.deepEqual(p.buildDefinition.externalParameters.workflow, {
    ref: "acme/swft/.github/workflows/release.yml@refs/tags/v1.0.0",
    repository: "https://github.com/acme/swft",
  });
});

Deno.test("provenance: GitHub variables set by hand beside a key pair do not make a GitHub builder", () => {
  const p = buildProvenance(inputs({
    signer: "key",
    env: {
      GITHUB_ACTIONS: "true",
      RUNNER_ENVIRONMENT: "github-hosted",
      GITHUB_REPOSITORY: "acme/swft",
      GITHUB_RUN_ID: "42",
    },
  }));
  assert.equal(p.runDetails.builder.id, KEY_HOLDER_BUILDER, "the key's holder, wherever it ran");
  assert.match(p.runDetails.metadata.invocationId, /^urn:uuid:/, "no invented run URL");
  assert.equal(p.buildDefinition.externalParameters.workflow, undefined);
  const keyless = buildProvenance(inputs({ signer: "keyless", env: {} }));
  assert.equal(keyless.runDetails.builder.id, KEYLESS_BUILDER, "keyless off GitHub");
});

Deno.test("provenance: an image built elsewhere has no build parameters or times; inputs by digest", () => {
  const from = buildProvenance(inputs({ builtBy: "from", image: "swft:local", deno: "2.9.5" }));
  assert.deepEqual(from.buildDefinition.externalParameters, {
    builtBy: "from",
    builtElsewhere: true,
    image: "swft:local",
    source: { repository: "https://git.example/acme/swft.git", commit: "a".repeat(40) },
  });
  assert.deepEqual(Object.keys(from.runDetails.metadata), ["invocationId"]);
  assert.equal(from.buildDefinition.internalParameters.deno, "2.9.5", "the version read");
  const airGapped = buildProvenance(inputs({
    buildInputs: [{ name: "denort", sha256: "9".repeat(64) }],
  }));
  assert.deepEqual(airGapped.buildDefinition.resolvedDependencies.at(-1), {
    name: "denort",
    uri: "file:denort",
    digest: { sha256: "9".repeat(64) },
  });
});

Deno.test("provenance: a dirty dependency is recorded; purls for tags and digests", () => {
  const dirty = buildProvenance(inputs({
    source: {
      ...inputs().source,
      dirty: true,
      changedPaths: 3,
      hidden: [{ path: "main.ts", how: "skip-worktree" }],
    },
  }));
  assert.deepEqual(dirty.buildDefinition.resolvedDependencies[0].annotations, {
    repository: "https://git.example/acme/swft.git",
    rootCommit: "b".repeat(40),
    dirty: true,
    changedPaths: 3,
    hiddenPaths: 1,
  });
  assert.equal(
    dockerPurl("gcr.io/distroless/cc-debian13:nonroot"),
    "pkg:docker/gcr.io/distroless/cc-debian13@nonroot",
  );
  assert.equal(
    dockerPurl(`x/y@sha256:${"e".repeat(64)}`),
    `pkg:docker/x/y@sha256:${"e".repeat(64)}`,
  );
});

Deno.test("provenance: a clone without a remote is named by its folder and keeps the root commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "swft-trust-clone-" });
  try {
    const clone = await run("git", ["clone", "--quiet", "--no-local", ROOT, dir]);
    assert.equal(clone.code, 0, clone.stderr);
    await run("git", ["remote", "remove", "origin"], { cwd: dir });
    const source = await gitSource(dir);
    const ours = await gitSource(ROOT);
    assert.equal(source.repository, undefined, "no remote: no URL");
    assert.equal(source.rootCommit, ours.rootCommit, "every clone shares the root commit");
    assert.equal(source.dirty, false);
    await Deno.writeTextFile(`${dir}/new-file.txt`, "x");
    assert.deepEqual([(await gitSource(dir)).dirty, (await gitSource(dir)).changedPaths], [
      true,
      1,
    ]);
    const shallow = `${dir}-shallow`;
    const cut = await run("git", ["clone", "--quiet", "--depth", "1", `file://${ROOT}`, shallow]);
    assert.equal(cut.code, 0, cut.stderr);
    await assert.rejects(
      () => gitSource(shallow),
      /Cannot read the source's root commit: the clone is shallow/,
    );
    await Deno.remove(shallow, { recursive: true });
    assert.match(
      await fileSha256(`${dir}/new-file.txt`),
      /^2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function report(overrides: Partial<Report> = {}, statuses: Record<string, string> = {}): Report {
  const ids = ["engine", "build-runtime", "image-size", "http-health"];
  return {
    tool: "swft-verify",
    ok: true,
    startedAt: "",
    options: { from: "img" },
    checks: ids.map((id) => ({ id, status: statuses[id] ?? "pass", detail: "", ms: 1 })),
    images: { builder: { ref: "b" }, runtime: { ref: "img", id: "sha256:aa" } },
    ...overrides,
  } as unknown as Report;
}

Deno.test("verify proof: for THIS image only, every check passed except the build checks of --from", () => {
  const existing = report({}, { "build-runtime": "skip", "image-size": "skip" });
  const pushed = (config: string) => ({ manifest: "sha256:ff", config });
  assert.equal(proofRefusal(existing, pushed("sha256:aa")), undefined);
  assert.equal(
    proofRefusal(existing, { manifest: "sha256:aa", config: "sha256:bb" }),
    undefined,
    "the containerd image store names an image by its manifest digest",
  );
  assert.match(
    proofRefusal(existing, pushed("sha256:bb"))!,
    /verify tested sha256:aa, not the pushed image \(config sha256:bb\)/,
  );
  assert.match(
    proofRefusal(report({}, { "http-health": "fail" }), pushed("sha256:aa"))!,
    /verify did not pass: http-health fail/,
  );
  const built = report({ options: {} as Report["options"] }, { "image-size": "skip" });
  assert.match(
    proofRefusal(built, pushed("sha256:aa"))!,
    /image-size skip/,
    "a skip outside --from refuses",
  );
  const proof = verifyProof(existing, "1.0.0");
  assert.deepEqual([proof.mode, proof.testedImage, proof.verifier], [
    "existing-image",
    { id: "sha256:aa", ref: "img" },
    { name: "swft-verify", version: "1.0.0" },
  ]);
  assert.equal(proof.checks.length, 4, "the report itself is the predicate");
});

Deno.test("cosign against an unreachable transparency log: one line naming --no-tlog", () => {
  const retries =
    'Error: signing [x]: signing digest: Post "https://rekor.example/api/v1/log/entries": ' +
    "POST https://rekor.example/api/v1/log/entries giving up after 4 attempt(s): dial tcp: lookup rekor.example: no such host\n" +
    "error during command execution: signing [x]: ...";
  const line = cosignFailure({ code: 1, stdout: "", stderr: retries, ms: 1 });
  assert.match(line, /^Cannot reach the transparency log \(rekor\.example\): .*--no-tlog/);
  assert.ok(!line.includes("\n"));
  assert.equal(
    cosignFailure({ code: 1, stdout: "", stderr: "Error: no matching signatures: x\n", ms: 1 }),
    "no matching signatures: x",
  );
});

Deno.test("release tools: COSIGN wins, then the tools folder, then PATH", async () => {
  const dir = await Deno.makeTempDir({ prefix: "swft-trust-tools-" });
  const saved = Object.fromEntries(["COSIGN", "SWFT_TOOLS_DIR"].map((k) => [k, Deno.env.get(k)]));
  try {
    Deno.env.delete("COSIGN");
    Deno.env.set("SWFT_TOOLS_DIR", dir);
    assert.equal(toolCommand("cosign", "COSIGN"), "cosign");
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(`${dir}/bin/cosign`, "");
    assert.equal(toolCommand("cosign", "COSIGN"), `${dir}/bin/cosign`);
    Deno.env.set("COSIGN", "/x/cosign");
    assert.equal(toolCommand("cosign", "COSIGN"), "/x/cosign");
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("verify --from IMAGE: checks an image without building; build-only flags refused", () => {
  const options = parseVerifyArgs(["--from", "127.0.0.1:5000/swft@sha256:" + "a".repeat(64)]);
  assert.ok(options !== "help");
  assert.equal(options.from, "127.0.0.1:5000/swft@sha256:" + "a".repeat(64));
  assert.throws(
    () => parseVerifyArgs(["--from", "x:1", "--no-cache"]),
    /--no-cache and --touch do not apply/,
  );
  assert.throws(() => parseVerifyArgs(["--from", "not an image"]), /--from must be an image/);
});

Deno.test("release --scan: a fixable CRITICAL or HIGH finding refuses, an unfixed one does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "swft-trust-scan-" });
  try {
    const scan = (vulnerabilities: Record<string, string>[]) => ({
      scanner: { result: { Results: [{ Vulnerabilities: vulnerabilities }] } },
    });
    const attempt = async (predicate: unknown, policy?: string) => {
      const file = `${dir}/${crypto.randomUUID()}.json`;
      await Deno.writeTextFile(file, JSON.stringify(predicate));
      const r = { options: { scan: file, policy }, predicates: {} } as unknown as ReleaseRun;
      return { result: await scanStep.run(r), r };
    };
    await assert.rejects(
      () =>
        attempt(
          scan([{
            VulnerabilityID: "CVE-1",
            PkgName: "libc6",
            Severity: "HIGH",
            FixedVersion: "2",
          }]),
        ),
      /^Error: Cannot attest the scan: fixable CRITICAL\/HIGH vulnerabilities: CVE-1 \(libc6\)$/,
    );
    const ok = await attempt(
      scan([{ VulnerabilityID: "CVE-2", PkgName: "tzdata", Severity: "CRITICAL" }]),
    );
    assert.equal(ok.result.status, "pass");
    assert.ok(ok.r.predicates.vuln, "kept for the vuln attestation");
    await assert.rejects(() => attempt({ results: [] }), /not a cosign vuln predicate/);
    // With --policy, the policy's severities: a policy that fails on CRITICAL only lets a
    // fixable HIGH through, and still refuses a fixable CRITICAL.
    const policy = `${dir}/critical-only.cue`;
    await Deno.writeTextFile(
      policy,
      withParams(await Deno.readTextFile(`${ROOT}/deploy/policy/swft.cue`), (params) => ({
        ...params,
        vuln: { failOn: ["CRITICAL"] },
      })),
    );
    const underPolicy = (severity: string) =>
      attempt(
        scan([{
          VulnerabilityID: "CVE-3",
          PkgName: "zlib1g",
          Severity: severity,
          FixedVersion: "2",
        }]),
        policy,
      );
    assert.equal((await underPolicy("HIGH")).result.status, "pass");
    await assert.rejects(
      () => underPolicy("CRITICAL"),
      /^Error: Cannot attest the scan: fixable CRITICAL vulnerabilities: CVE-3 \(zlib1g\)$/,
    );
    await Deno.writeTextFile(`${dir}/trivy.txt`, "Total: 0 (CRITICAL: 0)\n");
    const text = { options: { scan: `${dir}/trivy.txt` }, predicates: {} } as unknown as ReleaseRun;
    await assert.rejects(
      () => scanStep.run(text),
      /^Error: Cannot read .*trivy\.txt: not a cosign vuln predicate/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
