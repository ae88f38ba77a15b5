/**
 * `recheck` (`--verify-only`): the consumer derives again, from the image it pulled by digest,
 * what the verified attestations claim that the image itself answers (verify's image checks,
 * the Deno permissions): each attestation's `recheck`. A signed claim the image contradicts is
 * refused, naming the rule; an image that cannot be pulled is refused, never passed.
 *
 * @module
 */
import { docker, lastLines, pass } from "../_lib/mod.ts";
import { ATTESTATIONS } from "./attestations/mod.ts";
import type { ReleaseRun, ReleaseStep } from "./run.ts";

/**
 * Pulls `r.pinned` (`REPO@sha256:...`) from its registry; returns whether it was absent
 * before (then the step removes it at the end).
 */
async function pullByDigest(r: ReleaseRun): Promise<boolean> {
  const ref = r.pinned!;
  const present = (await docker(["image", "inspect", "--format", "{{.Id}}", ref])).code === 0;
  const pulled = await docker(["pull", "--quiet", ref]);
  if (pulled.code !== 0) {
    throw new Error(
      `Cannot re-check ${ref}: docker pull failed: ${
        lastLines(pulled.stderr || pulled.stdout, 1)
      }; run --verify-only where a Docker engine reaches the registry`,
    );
  }
  return !present;
}

/** `recheck`: every attestation's re-check on the image pulled by digest, in registry order. */
export const recheckStep: ReleaseStep = {
  id: "recheck",
  // Not with --rebuild: the rebuild proves the image from its provenance alone.
  when: (o) => o.verifyOnly && !o.rebuild,
  async run(r) {
    const added = await pullByDigest(r);
    try {
      const found: string[] = [];
      for (const attestation of ATTESTATIONS) {
        const statements = r.attested?.[attestation.name];
        if (!attestation.recheck || !statements) continue;
        found.push(`${attestation.name}: ${await attestation.recheck(r, statements)}`);
      }
      return pass(`${r.pinned}: ${found.join("; ")}`);
    } finally {
      if (added) await docker(["rmi", r.pinned!]);
    }
  },
};
