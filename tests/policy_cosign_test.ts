/**
 * deploy/policy/swft.cue under cosign on crafted predicates, without a release (the release
 * round in tests/release_test.ts builds one; this needs only cosign and a registry, and takes
 * about a minute):
 *
 * - a predicate that lacks a field the rules read is refused as a conflict that names the field
 *   (the `*-fields` rules). Why a conflict: cosign 2.5 (CUE 0.12, `Validate(cue.Final())`) also
 *   refuses an incomplete value, but policy-controller and cosign 3 (CUE 0.15, `Validate()` with
 *   no option) report only errors such as conflicts, so there a missing field would pass the
 *   rules that read it (docs/kubernetes.md). Without the rule, cosign 2.5 still refuses, but
 *   only as an incomplete value, which is what policy-controller passes: the test shows that too;
 * - the refusals where the Kyverno conditions once read other fields (CROSS_REFUSALS: flags
 *   only, a second source, a duplicate or non-hex base digest) are refused at the rule named,
 *   and pass without it; tests/policy_test.ts asks the Kyverno conditions about the same ones.
 *
 * Each case is built as an attacker works: the release's own predicate, changed, attested with
 * cosign and the signing key to an image in a throw-away registry (a one-config image pushed by
 * this test: cosign needs a manifest, not layers), under the predicate type URI so that cosign
 * writes the predicate as given; then `cosign verify-attestation --policy`, as
 * `deno task release --verify-only` runs it.
 */
import assert from "node:assert/strict";
import { CleanupStack, freePort, run, tempDir } from "../tasks/_lib/mod.ts";
import {
  attestArgs,
  cosignCommand,
  type SigningOptions,
  verifyAttestationArgs,
} from "../tasks/release/cosign.ts";
import { fileSha256 } from "../tasks/release/attestations/provenance.ts";
import { POLICY_FILE, policyRefusal } from "../tasks/release/policy.ts";
import { type LocalRegistry, registryCommand, startRegistry } from "../tasks/release/registry.ts";
import { requiredTest, testName } from "./_container.ts";
import { POLICY_PARAMS as PARAMS, POLICY_TEXT as TEXT, withoutRule } from "./_policy.ts";
import {
  acceptedPredicates,
  CROSS_REFUSALS,
  MISSING_FIELDS,
  refusedPredicate,
  withoutField,
} from "./_trust_fixtures.ts";

const PASSWORD = `swft-test-${crypto.randomUUID()}`;

async function missingTool(): Promise<string | undefined> {
  if ((await run(cosignCommand(), ["version"])).code === 127) {
    return "cosign not found (run: deno task release:tools)";
  }
  if ((await run(registryCommand(), ["--version"])).code === 127) {
    return "docker-registry not found (run: apt-get install docker-registry)";
  }
  return undefined;
}
const SKIP = await missingTool();

/** The accepted predicates by attestation name, the SBOM's as small as the policy reads it. */
function accepted(): Record<string, Record<string, unknown>> {
  return {
    sbom: { bomFormat: "CycloneDX", specVersion: "1.6", components: [] },
    ...structuredClone(acceptedPredicates()) as unknown as Record<string, Record<string, never>>,
  };
}

/** What the cases share: a registry, a key pair, the policy without each rule. */
interface Round {
  registry: LocalRegistry;
  dir: string;
  options: SigningOptions;
  repo: string;
  cleanup: CleanupStack;
}
let round: Round | undefined;

async function setUp(): Promise<Round> {
  if (round) return round;
  const cleanup = new CleanupStack();
  const dir = await tempDir(cleanup, "swft-policy-fields-");
  const registry = await startRegistry(freePort());
  cleanup.defer(() => registry.stop());
  const keys = await cosignRun(["generate-key-pair", "--output-key-prefix", `${dir}/k`]);
  assert.equal(keys.code, 0, keys.stderr);
  const options = { key: `${dir}/k.key`, publicKey: `${dir}/k.pub`, noTlog: true, loopback: true };
  round = { registry, dir, options, repo: `${registry.address}/${testName("fields")}`, cleanup };
  return round;
}
Deno.test.afterAll(async () => {
  await round?.cleanup.disposeAsync();
  round = undefined;
});

/**
 * Pushes an image of one config blob (labelled `label`, so each is its own digest) and no
 * layers, over the registry's HTTP API; returns `REPO@sha256:...`.
 */
async function pushImage(r: Round, label: string): Promise<string> {
  const [host, repo] = [r.registry.address, r.repo.slice(r.registry.address.length + 1)];
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Labels: { "swft.test": label } },
    rootfs: { type: "layers", diff_ids: [] },
  }));
  const file = `${r.dir}/config-${label}.json`;
  await Deno.writeFile(file, config);
  const digest = `sha256:${await fileSha256(file)}`;
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  const upload = new URL(start.headers.get("location")!, `http://${host}`);
  upload.searchParams.set("digest", digest);
  const put = await fetch(upload, { method: "PUT", body: config });
  await put.body?.cancel();
  assert.equal(put.status, 201, "config blob uploaded");
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest, size: config.length },
    layers: [],
  });
  const pushed = await fetch(`http://${host}/v2/${repo}/manifests/${label}`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
  await pushed.body?.cancel();
  assert.equal(pushed.status, 201, "manifest pushed");
  return `${r.repo}@${pushed.headers.get("docker-content-digest")}`;
}

/** Attests `predicate` as `name`'s predicate type to a new image, then verifies under `policy`. */
/**
 * Attests each of `predicates` as `name`'s predicate type to one new image, then verifies it
 * under `policy`.
 */
async function attestAndVerify(
  r: Round,
  name: string,
  predicates: unknown | unknown[],
  policy: string,
) {
  const kind = PARAMS.attestations.find((a) => a.name === name)!;
  const ref = await pushImage(r, `c${crypto.randomUUID().slice(0, 8)}`);
  for (const predicate of Array.isArray(predicates) ? predicates : [predicates]) {
    const file = `${r.dir}/${crypto.randomUUID()}.json`;
    await Deno.writeTextFile(file, JSON.stringify(predicate));
    // The predicate type URI, not cosign's short name: cosign then signs the predicate as given
    // (for `slsaprovenance1` it would parse it into its own types and write every field back).
    const attested = await cosignRun(attestArgs(ref, file, r.options, kind.predicateType));
    assert.equal(attested.code, 0, attested.stderr);
  }
  return await cosignRun(verifyAttestationArgs(ref, r.options, { type: kind.cosignType, policy }));
}

function cosignRun(args: string[]) {
  return run(cosignCommand(), args, { env: { COSIGN_PASSWORD: PASSWORD } });
}

async function policyWithout(r: Round, rule: string): Promise<string> {
  const path = `${r.dir}/without-${rule}.cue`;
  await Deno.writeTextFile(path, withoutRule(TEXT, rule));
  return path;
}

Deno.test("policy: a refusal at a path (a missing field) becomes one line that names the rule and the field", () => {
  assert.equal(
    policyRefusal(
      '- rules."provenance-fields"."source.annotations".0.dirty: conflicting values "missing from the predicate" and "refused"',
    ),
    "rule provenance-fields: source.annotations.0.dirty (missing from the predicate)",
  );
});

requiredTest(
  "[policy under cosign] the release's own predicates pass the policy under cosign",
  SKIP,
  async () => {
    const r = await setUp();
    for (const [name, predicate] of Object.entries(accepted())) {
      const result = await attestAndVerify(r, name, predicate, POLICY_FILE);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    }
  },
);

for (const missing of MISSING_FIELDS) {
  const [name, rule, path] = missing;
  requiredTest(
    `[policy under cosign] refused: a ${name} predicate without ${path}, at rule ${rule}, as a conflict`,
    SKIP,
    async () => {
      const r = await setUp();
      const { predicate, path } = withoutField(missing, accepted()[name]);
      const result = await attestAndVerify(r, name, predicate, POLICY_FILE);
      assert.equal(result.code, 1, result.stderr);
      const line = policyRefusal(result.stderr);
      assert.equal(line, `rule ${rule}: ${path} (missing from the predicate)`, result.stderr);
      console.log(`  ${line}`);
      // Without the rule, what is left is at most an incomplete value (cosign 2.5 refuses it;
      // policy-controller's Validate() with no option does not): no conflict names the field.
      const without = await attestAndVerify(r, name, predicate, await policyWithout(r, rule));
      assert.doesNotMatch(without.stderr, /conflicting values "missing from the predicate"/);
      if (without.code !== 0) {
        assert.match(without.stderr, /undefined field|incomplete|non-concrete/, without.stderr);
      }
    },
  );
}

for (const refusal of CROSS_REFUSALS) {
  requiredTest(
    `[policy under cosign] refused: ${refusal.name}, at rule ${refusal.rule}; without the rule, it passes`,
    SKIP,
    async () => {
      const r = await setUp();
      const predicate = refusedPredicate(refusal, acceptedPredicates());
      const result = await attestAndVerify(r, refusal.attestation, predicate, POLICY_FILE);
      assert.equal(result.code, 1, result.stderr);
      const line = policyRefusal(result.stderr) ?? result.stderr;
      assert.match(line, new RegExp(`^rule ${refusal.rule}: `));
      console.log(`  ${line}`);
      const policy = await policyWithout(r, refusal.rule);
      const without = await attestAndVerify(r, refusal.attestation, predicate, policy);
      assert.equal(without.code, 0, `without ${refusal.rule}: ${without.stderr}`);
    },
  );
}

requiredTest(
  "[policy under cosign] two permissions attestations on one image, the second widened: refused, as every one must pass (policy-controller would admit on the first)",
  SKIP,
  async () => {
    const r = await setUp();
    const accepted = acceptedPredicates().permissions;
    const widened = { ...accepted, flags: [...accepted.flags, "--allow-all"] };
    const result = await attestAndVerify(r, "permissions", [accepted, widened], POLICY_FILE);
    assert.equal(result.code, 1, result.stderr);
    const line = policyRefusal(result.stderr);
    assert.equal(line, "rule permissions-forbidden: --allow-all (never allowed)");
    console.log(`  ${line}`);
  },
);
