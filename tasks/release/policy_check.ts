/**
 * The `policy` step: the run's predicates held to `--policy` BEFORE anything is signed, so a
 * release the policy refuses leaves no signature and no attestation on the digest.
 *
 * cosign evaluates a CUE policy only in `verify-attestation`, on attestations attached to an
 * image; so the step makes a throwaway copy of what attaching would make, offline: each
 * predicate attested by `cosign attest-blob` with a key pair made for this run and dropped
 * with it, in a folder in `cosign save`'s layout, then `cosign verify-attestation
 * --local-image --policy` on it, type by type: the same evaluator, the same predicates as
 * cosign wraps them, the same refusal line as `verify-attestations`. Nothing reaches the
 * registry; the release's own key signs nothing here.
 *
 * @module
 */
import { pass } from "../_lib/mod.ts";
import { attachedAttestations, type Attestation } from "./attestations/mod.ts";
import { fileSha256 } from "./attestations/provenance.ts";
import { cosign, cosignFailure, verifyAttestationArgs } from "./cosign.ts";
import { policyRefusal, readPolicyFile } from "./policy.ts";
import { publishing, type ReleaseRun, type ReleaseStep } from "./run.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** The in-toto subject of the throwaway attestations: a manifest that names the image. */
const EMPTY = "application/vnd.oci.empty.v1+json";

/** Writes `bytes` as a blob of the layout at `dir`; its descriptor's digest and size. */
async function blob(dir: string, bytes: Uint8Array): Promise<{ digest: string; size: number }> {
  const file = `${dir}/blobs/sha256/.new`;
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  await Deno.writeFile(file, bytes);
  const hex = await fileSha256(file);
  await Deno.rename(file, `${dir}/blobs/sha256/${hex}`);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** cosign with an empty key password (the throwaway key has none). */
function cosignHere(args: string[]) {
  return cosign(args, { env: { COSIGN_PASSWORD: "" } });
}

/** The attestations image as cosign writes one: an empty config listing the envelopes. */
async function attestationsImage(
  dir: string,
  layers: { digest: string; size: number }[],
): Promise<{ digest: string; size: number }> {
  const config = await blob(
    dir,
    json({
      architecture: "",
      created: "0001-01-01T00:00:00Z",
      history: [{ created: "0001-01-01T00:00:00Z" }],
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  return await blob(
    dir,
    json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers,
    }),
  );
}

/**
 * A folder in `cosign save`'s layout holding a stand-in image manifest and, attached to it,
 * each of `attestations`' predicates signed with a throwaway key; resolves to the folder and
 * the key's public half.
 */
async function throwawayLayout(
  r: ReleaseRun,
  attestations: Attestation[],
): Promise<{ dir: string; publicKey: string }> {
  const dir = `${r.tmp}/policy-check`;
  await Deno.mkdir(dir);
  const key = `${r.tmp}/policy-check-key`;
  const made = await cosignHere(["generate-key-pair", "--output-key-prefix", key]);
  if (made.code !== 0) throw new Error(`cosign generate-key-pair: ${cosignFailure(made)}`);
  const config = await blob(dir, json({}));
  const manifestBytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: EMPTY, ...config },
    layers: [],
    annotations: { "org.opencontainers.image.ref.name": r.pinned },
  });
  const image = await blob(dir, manifestBytes);
  const subject = `${r.tmp}/policy-check-subject.json`;
  await Deno.writeFile(subject, manifestBytes);
  const layers = [];
  for (const a of attestations) {
    const envelope = `${r.tmp}/policy-check-${a.name}.dsse`;
    const args = ["attest-blob", "--yes", "--key", `${key}.key`, "--tlog-upload=false"];
    const signed = await cosignHere([
      ...args,
      ...["--type", a.cosignType, "--predicate", r.predicates[a.name]],
      ...["--output-signature", envelope, subject],
    ]);
    if (signed.code !== 0) {
      throw new Error(`cosign attest-blob ${a.name}: ${cosignFailure(signed)}`);
    }
    layers.push({
      mediaType: "application/vnd.dsse.envelope.v1+json",
      ...await blob(dir, await Deno.readFile(envelope)),
      annotations: { "dev.cosignproject.cosign/signature": "", predicateType: a.predicateType },
    });
  }
  const atts = await attestationsImage(dir, layers);
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          ...image,
          annotations: { kind: "dev.cosignproject.cosign/image" },
        },
        {
          mediaType: OCI_MANIFEST,
          ...atts,
          annotations: { kind: "dev.cosignproject.cosign/atts" },
        },
      ],
    }),
  );
  return { dir, publicKey: `${key}.pub` };
}

/**
 * `policy` (with `--policy`): every predicate the run attaches, held to the policy before
 * `sign` and `attest`; a refusal names the rule, as `verify-attestations` does, and nothing is
 * signed.
 */
export const policyStep: ReleaseStep = {
  id: "policy",
  when: (o) => publishing(o) && o.policy !== undefined,
  async run(r) {
    const policy = r.options.policy!;
    const attached = attachedAttestations(r.options);
    const missing = readPolicyFile(policy).attestations.find((k) =>
      !attached.some((a) => a.name === k.name)
    );
    if (missing) {
      throw new Error(`rule required-attestations: no ${missing.cosignType} attestation`);
    }
    const layout = await throwawayLayout(r, attached);
    const signing = { publicKey: layout.publicKey, noTlog: true, loopback: false };
    for (const a of attached) {
      const result = await cosign(
        verifyAttestationArgs(layout.dir, signing, {
          type: a.cosignType,
          policy,
          localImage: true,
        }),
      );
      if (result.code !== 0) {
        // As verify-attestations says it: the rule, and the file that holds it.
        const refusal = policyRefusal(result.stderr + result.stdout);
        throw new Error(
          refusal ? `${refusal}; policy ${policy}` : `${a.name}: ${cosignFailure(result)}`,
        );
      }
    }
    return pass(`${attached.map((a) => a.name).join(", ")} hold under ${policy}, unsigned yet`);
  },
};
