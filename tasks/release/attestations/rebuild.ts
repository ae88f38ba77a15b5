/**
 * Third-party rebuilds as attestations: `--rebuild --attest --key rebuilder.key` signs
 * `urn:swft:attestation:rebuild:v1` (what was rebuilt, from which commit, by whom, the digest
 * obtained) onto the image once `--rebuild` reproduced it; the policy's `rebuild` section
 * (`required`, `keys`) makes a consumer's `--verify-only --policy` require that many rebuild
 * attestations from distinct keys of that set, and refuses an image whose rebuild attestation
 * names another digest (rules `rebuild-required` and `rebuild-digest`).
 *
 * It is not in the registry (./mod.ts): a release never attaches it (a rebuilder signs it, with
 * its own key, after the release), and the default policy requires none.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { engineVersion, pass, readDenoJson } from "../../_lib/mod.ts";
import {
  attestArgs,
  cosign,
  cosignFailure,
  statementsAbout,
  verifyAttestationArgs,
} from "../cosign.ts";
import { readPolicyFile } from "../policy.ts";
import { type ReleaseRun, type ReleaseStep, signingOf, writePredicate } from "../run.ts";
import { fileSha256 } from "./provenance.ts";

/** The rebuild attestation's predicate type (and cosign type). */
export const REBUILD_TYPE = "urn:swft:attestation:rebuild:v1";

/** The rebuild predicate: what was rebuilt, from which commit, by whom, the digest obtained. */
export interface RebuildPredicate {
  /** The image rebuilt, by digest. */
  image: { name: string; digest: string };
  /** The commit its provenance names, as built. */
  source: { commit: string };
  /** Who rebuilt: the sha256 of the rebuilder's public key (PEM). */
  rebuilder: { publicKeySha256: string };
  /** The manifest digest the rebuild obtained. */
  obtained: { digest: string };
  /** Whether it is the image's. */
  reproduced: boolean;
  /** When, and with what. */
  rebuiltOn: string;
  /** The tools: swft-release's version and the Docker engine's. */
  tools: { "swft-release": string; docker: string };
}

/** The policy's `rebuild` section: how many rebuild attestations, from which keys. */
export interface RebuildPolicy {
  /** Rebuild attestations required, each from another key of `keys` (0: none). */
  required: number;
  /** Public keys of accepted rebuilders: PEM text, or a path relative to the policy file. */
  keys: string[];
}

/**
 * `rebuild-attest` (with `--rebuild --attest --key REBUILDER.key`): after the rebuild
 * reproduced the digest, the predicate signed onto the image with the rebuilder's key.
 */
export const rebuildAttestStep: ReleaseStep = {
  id: "rebuild-attest",
  when: (o) => o.rebuild === true && o.rebuildKey !== undefined,
  async run(r) {
    const key = r.options.rebuildKey!;
    const pub = `${r.tmp}/rebuilder.pub`;
    const derived = await cosign(["public-key", "--key", key, "--outfile", pub]);
    if (derived.code !== 0) {
      throw new Error(`cosign public-key --key ${key}: ${cosignFailure(derived)}`);
    }
    const predicate: RebuildPredicate = {
      image: { name: r.options.image.name, digest: r.digest! },
      source: { commit: r.rebuilt!.commit },
      rebuilder: { publicKeySha256: await fileSha256(pub) },
      obtained: { digest: r.rebuilt!.digest },
      reproduced: r.rebuilt!.digest === r.digest,
      rebuiltOn: new Date().toISOString(),
      tools: {
        "swft-release": readDenoJson().version ?? "dev",
        docker: await engineVersion() ?? "unknown",
      },
    };
    await writePredicate(r, "rebuild", predicate);
    const signing = { ...signingOf(r), key };
    const result = await cosign(attestArgs(r.pinned!, r.predicates.rebuild, signing, REBUILD_TYPE));
    if (result.code !== 0) throw new Error(`cosign attest rebuild: ${cosignFailure(result)}`);
    return pass(`${REBUILD_TYPE} by ${key} on ${r.digest}`);
  },
};

/** A policy key as a file cosign reads: a path relative to the policy, or PEM text written out. */
async function keyFile(r: ReleaseRun, key: string, index: number): Promise<string> {
  if (!key.trimStart().startsWith("-----BEGIN")) return resolve(dirname(r.options.policy!), key);
  const path = `${r.tmp}/rebuilder-${index}.pub`;
  await Deno.writeTextFile(path, key);
  return path;
}

/** How many keys attested a reproduction. */
function reproducingKeys(byKey: RebuildPredicate[][]): number {
  return byKey.filter((list) => list.some((p) => p.reproduced === true)).length;
}

/**
 * Why the rebuild attestations (by key) refuse the image `digest`, or `undefined`:
 * `rebuild-digest` when one names another digest, `rebuild-required` when fewer keys than
 * `required` attested a reproduction.
 */
export function rebuildRefusal(
  byKey: RebuildPredicate[][],
  digest: string,
  required: number,
): string | undefined {
  const stray = byKey.flat().find((p) =>
    p?.image?.digest !== digest || p?.obtained?.digest !== digest
  );
  if (stray) {
    return `rule rebuild-digest: a rebuild attestation names ${
      stray.obtained?.digest ?? "no digest"
    }, not ${digest}`;
  }
  const keys = reproducingKeys(byKey);
  if (keys < required) {
    return `rule rebuild-required: ${keys} of the ${required} rebuild attestations the policy ` +
      "requires (deno task release --rebuild --attest by a rebuilder of its keys)";
  }
  return undefined;
}

/**
 * `verify-rebuilds` (with `--policy` whose `rebuild` section names keys): each key's rebuild
 * attestations on the digest, held to {@linkcode rebuildRefusal}.
 */
export const verifyRebuildsStep: ReleaseStep = {
  id: "verify-rebuilds",
  // A consumer's check: a release cannot carry rebuilds of itself yet.
  when: (o) =>
    o.verifyOnly && !o.rebuild && o.policy !== undefined && rebuildPolicy(o.policy).keys.length > 0,
  async run(r) {
    const policy = rebuildPolicy(r.options.policy!);
    const byKey: RebuildPredicate[][] = [];
    for (const [index, key] of policy.keys.entries()) {
      const signing = { ...signingOf(r), publicKey: await keyFile(r, key, index) };
      const result = await cosign(
        verifyAttestationArgs(r.pinned!, signing, { type: REBUILD_TYPE }),
      );
      byKey.push(
        result.code !== 0 ? [] : statementsAbout(result.stdout, REBUILD_TYPE, r.digest!)
          .map((s) => s.predicate as RebuildPredicate),
      );
    }
    const refusal = rebuildRefusal(byKey, r.digest!, policy.required);
    if (refusal) throw new Error(`${refusal}; policy ${r.options.policy}`);
    return pass(
      `${
        reproducingKeys(byKey)
      } rebuilders of ${policy.keys.length} reproduced ${r.digest} (${policy.required} required)`,
    );
  },
};

/** The policy's `rebuild` section, none required when it has none. */
export function rebuildPolicy(path: string): RebuildPolicy {
  const params = readPolicyFile(path);
  return { required: params.rebuild?.required ?? 0, keys: params.rebuild?.keys ?? [] };
}
