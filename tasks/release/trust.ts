/**
 * The release's trust steps that belong to no one attestation: what it records about the
 * source and the base images, attaching every attestation of the registry
 * (tasks/release/attestations/), and verifying them (under the deploy policy with `--policy`).
 * Each is an entry of tasks/release.ts's step list.
 *
 * @module
 */
import { docker, imageId, pass, ROOT } from "../_lib/mod.ts";
import {
  attestArgs,
  cosign,
  cosignFailure,
  saveArgs,
  statementsAbout,
  verifyAttestationArgs,
} from "./cosign.ts";
import {
  attachedAttestations,
  type AttestationKind,
  ATTESTATIONS,
  kindOf,
} from "./attestations/mod.ts";
import {
  type BaseImage,
  baseImageRefs,
  checkBaseLayers,
  gitSource,
  resolveBaseImage,
} from "./attestations/provenance.ts";
import { hiddenRefusal } from "./git_source.ts";
import { policyRefusal, readPolicyFile } from "./policy.ts";
import {
  type AttestationStatus,
  publishing,
  type ReleaseOptions,
  type ReleaseStep,
  signingOf,
} from "./run.ts";

/** The attestations a run verifies: the policy's required ones with `--policy`. */
export function verifiedKinds(options: ReleaseOptions): AttestationKind[] {
  // A rebuild reads the provenance alone; the policy is a deploy's, not a rebuilder's.
  if (options.rebuild) return ATTESTATIONS.filter((a) => a.name === "provenance").map(kindOf);
  const attached = attachedAttestations(options);
  if (!options.policy) return attached.map(kindOf);
  // The policy's, and those the run asks for on top (the scan, where the policy lists none).
  const required = readPolicyFile(options.policy).attestations;
  return [
    ...required,
    ...attached.filter((a) => a.optional && !required.some((k) => k.name === a.name)).map(kindOf),
  ];
}

/** The report's attestations list for a run, none verified yet. */
export function attestationStatuses(options: ReleaseOptions): AttestationStatus[] {
  return verifiedKinds(options).map((k) => ({
    name: k.name,
    type: k.cosignType,
    predicateType: k.predicateType,
    verified: false,
  }));
}

/**
 * `source`: the git commit, the repository's root commit and whether the work tree is clean,
 * counting what git hides (skip-worktree, assume-unchanged, ignored files the build context
 * keeps: git_source.ts). A dirty tree is refused, naming the first path, unless
 * `--allow-dirty`, and then recorded in the provenance, where the policy refuses it unless its
 * `acceptDirty` parameter says otherwise.
 */
export const sourceStep: ReleaseStep = {
  id: "source",
  when: publishing,
  async run(r) {
    const source = await gitSource(ROOT);
    r.source = source;
    if (source.dirty && !r.options.allowDirty) {
      if (source.changedPaths === 0) throw new Error(hiddenRefusal(source.hidden));
      // Name them: a stray file (a key, a report) is found at once.
      const named = source.changed.slice(0, 3).join(", ") +
        (source.changedPaths > 3 ? ", ..." : "");
      throw new Error(
        `Cannot release a dirty work tree: ${source.changedPaths} paths have uncommitted ` +
          `changes (${named}); commit them, or pass --allow-dirty (the provenance then says so)`,
      );
    }
    const hidden = source.hidden.length;
    return pass(
      `${source.commit.slice(0, 12)} of ${source.repository ?? "a clone without a remote"}${
        source.dirty
          ? ` (dirty: ${source.changedPaths} paths, ${hidden} hidden from git, --allow-dirty)`
          : ""
      }`,
    );
  },
};

/**
 * `bases`: DENO_IMAGE and RUNTIME_IMAGE resolved to the digests of the images the engine holds
 * under the references the build used; the pushed image's layers must begin with
 * RUNTIME_IMAGE's, always (else the recorded base would not be the one it was built on). What
 * cannot be resolved or checked is refused.
 */
export const basesStep: ReleaseStep = {
  id: "bases",
  when: publishing,
  async run(r) {
    const bases: BaseImage[] = [];
    for (const { name, ref } of baseImageRefs(r.built?.buildArgs ?? r.options.buildArgs)) {
      // Pulled when absent: the layer check below needs it, and so does the digest.
      if (await imageId(ref) === undefined) await docker(["pull", ref]);
      bases.push(await resolveBaseImage(name, ref));
    }
    await checkBaseLayers(r.pinned!, bases.find((b) => b.name === "RUNTIME_IMAGE")!.ref);
    r.bases = bases;
    return pass(bases.map((b) => `${b.name}=${b.ref}@sha256:${b.sha256.slice(0, 12)}`).join(", "));
  },
};

/** `attest`: every attestation on the digest, one `cosign attest` each. */
export const attestStep: ReleaseStep = {
  id: "attest",
  when: publishing,
  async run(r) {
    const kinds = attachedAttestations(r.options);
    for (const kind of kinds) {
      const result = await cosign(
        attestArgs(r.pinned!, r.predicates[kind.name], signingOf(r), kind.cosignType),
      );
      if (result.code !== 0) {
        throw new Error(`cosign attest ${kind.name}: ${cosignFailure(result)}`);
      }
    }
    return pass(`${kinds.map((k) => k.name).join(", ")} attached`);
  },
};

/**
 * `verify-attestations`: each attestation verified on the digest with cosign (under the
 * policy with `--policy`: a refusal names its rule), then what its module checks beyond the
 * policy (`checkAttested`: the SBOM is the one generated, verify's proof is about this very
 * image, the rule `verify-proof-image`, which the policy cannot check: it sees the statement,
 * not the image).
 */
export const verifyAttestationsStep: ReleaseStep = {
  id: "verify-attestations",
  async run(r) {
    const verified: string[] = [];
    for (const status of r.report.attestations) {
      const args = verifyAttestationArgs(r.pinned!, signingOf(r), {
        type: status.type,
        policy: r.options.policy,
      });
      const result = await cosign(args);
      if (result.code !== 0) {
        const output = result.stderr + result.stdout;
        // cosign finds no attestation of any type at all: as missing as a wrong type.
        const none = /no matching attestations:\s*$/m.test(output)
          ? `rule required-attestations: no ${status.type} attestation`
          : undefined;
        // A refusal names the file that holds the rule (the ceiling, the accepted sources...).
        const refusal = policyRefusal(output);
        const where = refusal && r.options.policy ? `; policy ${r.options.policy}` : "";
        throw new Error(
          refusal ? refusal + where : none ?? `${status.name}: ${cosignFailure(result)}`,
        );
      }
      const ours = statementsAbout(result.stdout, status.predicateType, r.digest!);
      if (ours.length === 0) {
        throw new Error(`Cannot verify the ${status.name} attestation: none is about ${r.digest}`);
      }
      // What the release checks beyond the policy (an attestation of the registry; a kind
      // only a policy copy names has none).
      await ATTESTATIONS.find((a) => a.name === status.name)?.checkAttested?.(r, ours);
      (r.attested ??= {})[status.name] = ours;
      status.verified = true;
      verified.push(status.name);
    }
    return pass(
      `${verified.join(", ")} on ${r.digest}${
        r.options.policy ? ` under ${r.options.policy}` : ""
      }`,
    );
  },
};

/** `save` (with `--save DIR`): the image, its signature and attestations, as `cosign load` takes. */
export const saveStep: ReleaseStep = {
  id: "save",
  when: (o) => o.save !== undefined,
  async run(r) {
    const result = await cosign(saveArgs(r.pinned!, r.options.save!, signingOf(r)));
    if (result.code !== 0) throw new Error(`cosign save: ${cosignFailure(result)}`);
    return pass(`${r.pinned} in ${r.options.save} (cosign load --dir ${r.options.save} REPO)`);
  },
};
