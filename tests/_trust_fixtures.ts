/**
 * The refused images of the trust tests, as changes to an accepted image's predicates: the
 * release round attests them with cosign and checks cosign's verdict under the CUE policy;
 * tests/policy_test.ts checks the Kyverno conditions' verdict on the same predicates. One
 * definition of each refusal, so both enforcers are asked about the same thing. Also the
 * accepted image's own permissions as the Dockerfile writes them.
 *
 * @module
 */
import { ROOT } from "../tasks/_lib/mod.ts";
import { parseDenoRun } from "../tasks/_lib/deno_run.ts";
import {
  type PermissionsPredicate,
  permissionsPredicate,
} from "../tasks/release/attestations/permissions.ts";
import { buildProvenance, type Provenance } from "../tasks/release/attestations/provenance.ts";
import { type VerifyProof, verifyProof } from "../tasks/release/attestations/verify_proof.ts";
import { NOT_RUN_ON_EXISTING_IMAGE } from "../tasks/verify/checks_build.ts";
import { POLICY_PARAMS } from "./_policy.ts";
import type { Report } from "../tasks/verify/report.ts";
import { parseDockerfile } from "../tasks/verify/dockerfile.ts";

/** The `runtime-deno` stage's ENTRYPOINT in the Dockerfile (by stage, with verify's parser). */
export function runtimeDenoEntrypoint(): string[] {
  const dockerfile = parseDockerfile(Deno.readTextFileSync(`${ROOT}/Dockerfile`));
  const stage = dockerfile.stages.find((s) => s.name === "runtime-deno");
  const entrypoint = stage?.instructions.find((i) => i.keyword === "ENTRYPOINT");
  if (!entrypoint) throw new Error("Cannot find the runtime-deno stage's ENTRYPOINT");
  return JSON.parse(entrypoint.args);
}

/** An image's predicates by attestation name (`provenance`, `verify-proof`, `permissions`). */
export interface Predicates {
  /** SLSA v1 provenance. */
  provenance: Provenance;
  /** verify's proof. */
  "verify-proof": VerifyProof;
  /** Deno permissions. */
  permissions: PermissionsPredicate;
}

/** A refusal: what it changes, and the policy rule that must name it. */
export interface Refusal {
  /** Test name. */
  name: string;
  /** The rule of deploy/policy/swft.cue that refuses it. */
  rule: string;
  /** The attestation it changes. */
  attestation: keyof Predicates;
  /** Changes the accepted image's predicates (a copy: {@linkcode refusedPredicate} makes it). */
  change(predicates: Predicates): void;
}

/** The predicate `refusal` refuses: its attestation's, changed on a deep copy of `accepted`. */
export function refusedPredicate(refusal: Refusal, accepted: Predicates): unknown {
  const predicates = structuredClone(accepted);
  refusal.change(predicates);
  return predicates[refusal.attestation];
}

/**
 * A change that adds `flag` to the permissions predicate's `flags` only: its grouped `allow`
 * stays as the release wrote it, since no policy reads it (when both changed together, Kyverno's
 * conditions read `allow` and the CUE `flags` without a test telling them apart).
 */
function withFlag(flag: string): Refusal["change"] {
  return ({ permissions }) => void permissions.flags.push(flag);
}

/** The refusals that change a predicate (the others are about keys and missing attestations). */
export const PREDICATE_REFUSALS: readonly Refusal[] = [
  {
    name: "a verify proof with one check failed",
    rule: "verify-checks-pass",
    attestation: "verify-proof",
    change({ "verify-proof": proof }) {
      const check = proof.checks.find((c) => c.id === "http-health")!;
      Object.assign(check, { status: "fail", detail: "/health: 500" });
    },
  },
  {
    name: "a permissions predicate widened with --allow-all",
    rule: "permissions-forbidden",
    attestation: "permissions",
    change: withFlag("--allow-all"),
  },
  {
    // Deno reads -R=/ as --allow-read=/ (every file); the release writes long flags only, and
    // the ceiling's rules read only those.
    name: "a permissions predicate with a short flag the other rules cannot read (-R=/)",
    rule: "permissions-form",
    attestation: "permissions",
    change: withFlag("-R=/"),
  },
  {
    name: "provenance from another repository",
    rule: "provenance-source",
    attestation: "provenance",
    change({ provenance }) {
      const source = provenance.buildDefinition.resolvedDependencies.find((d) =>
        d.name === "source"
      )!;
      const other = "https://git.example/someone/else.git";
      Object.assign(source, {
        uri: `git+${other}@${"1".repeat(40)}`,
        digest: { gitCommit: "1".repeat(40) },
        annotations: { ...source.annotations, repository: other, rootCommit: "2".repeat(40) },
      });
    },
  },
  {
    name: "a permissions predicate running another script",
    rule: "permissions-script",
    attestation: "permissions",
    change({ permissions }) {
      permissions.script = "/tmp/other.ts";
    },
  },
  {
    name: "a deno run entry point without --cached-only",
    rule: "permissions-runtime-flags",
    attestation: "permissions",
    change({ permissions }) {
      permissions.runtimeFlags = permissions.runtimeFlags.filter((f) => f !== "--cached-only");
    },
  },
  {
    name: "a deno run entry point with --inspect=0.0.0.0:9229",
    rule: "permissions-runtime-flags",
    attestation: "permissions",
    change({ permissions }) {
      permissions.runtimeFlags.push("--inspect=0.0.0.0:9229");
    },
  },
];

/** A predicate as JSON, changed by path. */
// deno-lint-ignore no-explicit-any -- predicates are JSON, changed by path
export type Json = any;

/**
 * A predicate missing one field: the attestation, the rule that must refuse it, the path its
 * refusal names (`{base}`, `{last}`: indexes read from the predicate before the change) and the
 * change.
 */
export type MissingField = [
  attestation: string,
  rule: string,
  path: string,
  remove: (p: Json) => void,
];
const source = (p: Json) =>
  p.buildDefinition.resolvedDependencies.findIndex((d: Json) => d.name === "source");
const base = (p: Json) =>
  p.buildDefinition.resolvedDependencies.findIndex((d: Json) => d.name === "RUNTIME_IMAGE");

/** Every field the policy's `*-fields` rules require, each missing once. */
export const MISSING_FIELDS: readonly MissingField[] = [
  ["sbom", "sbom-fields", "predicate.bomFormat", (p) => delete p.bomFormat],
  ["provenance", "provenance-fields", "predicate.buildDefinition", (p) => delete p.buildDefinition],
  ["provenance", "provenance-fields", "predicate.runDetails", (p) => delete p.runDetails],
  [
    "provenance",
    "provenance-fields",
    "buildDefinition.buildType",
    (p) => delete p.buildDefinition.buildType,
  ],
  [
    "provenance",
    "provenance-fields",
    "buildDefinition.resolvedDependencies",
    (p) => delete p.buildDefinition.resolvedDependencies,
  ],
  ["provenance", "provenance-fields", "runDetails.builder", (p) => delete p.runDetails.builder],
  [
    "provenance",
    "provenance-fields",
    "runDetails.builder.id",
    (p) => delete p.runDetails.builder.id,
  ],
  [
    "provenance",
    "provenance-fields",
    "resolvedDependencies.{base}.name",
    (p) => delete p.buildDefinition.resolvedDependencies[base(p)].name,
  ],
  [
    "provenance",
    "provenance-fields",
    "source.0.annotations",
    (p) => delete p.buildDefinition.resolvedDependencies[source(p)].annotations,
  ],
  ...["repository", "rootCommit", "dirty"].map((field): MissingField => [
    "provenance",
    "provenance-fields",
    `source.annotations.0.${field}`,
    (p) => delete p.buildDefinition.resolvedDependencies[source(p)].annotations[field],
  ]),
  ["verify-proof", "verify-fields", "predicate.mode", (p) => delete p.mode],
  ["verify-proof", "verify-fields", "predicate.checks", (p) => delete p.checks],
  // An extra check without an id, failed: every required check is still there (a required
  // check without its id is also refused by verify-required-checks).
  ["verify-proof", "verify-fields", "checks.{last}.id", (p) => p.checks.push({ status: "fail" })],
  ["verify-proof", "verify-fields", "checks.3.status", (p) => delete p.checks[3].status],
  ["permissions", "permissions-fields", "predicate.runtime", (p) => delete p.runtime],
  ["permissions", "permissions-fields", "predicate.flags", (p) => delete p.flags],
  // `source` decides whether --cached-only is required (permissions-runtime-flags).
  ["permissions", "permissions-fields", "predicate.source", (p) => delete p.source],
];

/**
 * The predicate `missing` names, changed on a copy of `predicate`, and the path its refusal
 * names.
 */
export function withoutField(
  missing: MissingField,
  predicate: unknown,
): { predicate: Json; path: string } {
  const changed = structuredClone(predicate) as Json;
  const path = missing[2].replace("{base}", () => String(base(changed)))
    .replace("{last}", () => String(changed.checks?.length));
  missing[3](changed);
  return { predicate: changed, path };
}

/** A change of the provenance's resolved dependencies. */
function withDependencies(change: (deps: Json[]) => void): Refusal["change"] {
  return ({ provenance }) => change(provenance.buildDefinition.resolvedDependencies);
}

/**
 * Refusals where the Kyverno conditions once read other fields than the CUE (issue 23, item 8):
 * each changes only what the CUE reads (`flags`, not the grouped `allow`; one source; hex
 * digests). Both enforcers must refuse each at the rule named: the CUE under cosign
 * (tests/policy_cosign_test.ts), the Kyverno conditions in tests/policy_test.ts.
 */
export const CROSS_REFUSALS: readonly Refusal[] = [
  ...([
    ["--allow-write=/tmp", "permissions-forbidden"],
    ["--allow-hrtime", "permissions-ceiling"],
    ["--allow-env", "permissions-ceiling"],
    ["--allow-read=/", "permissions-ceiling"],
    ["--allow-net=", "permissions-ceiling"],
    ["--allow-net=*", "permissions-ceiling"],
  ] as const).map(([flag, rule]): Refusal => ({
    name: `a permissions predicate whose flags (only) gain ${flag}`,
    rule,
    attestation: "permissions",
    change: withFlag(flag),
  })),
  {
    name: "provenance with a second source from another repository",
    rule: "provenance-source",
    attestation: "provenance",
    change: withDependencies((deps) => {
      const source = deps.find((d) => d.name === "source");
      deps.push({
        ...structuredClone(source),
        uri: `git+https://git.example/someone/else.git@${"1".repeat(40)}`,
        annotations: { ...source.annotations, rootCommit: "2".repeat(40) },
      });
    }),
  },
  {
    name: "provenance with a second DENO_IMAGE of another digest",
    rule: "provenance-base-digests",
    attestation: "provenance",
    change: withDependencies((deps) => {
      const base = deps.find((d) => d.name === "DENO_IMAGE");
      deps.push({ ...structuredClone(base), digest: { sha256: "9".repeat(64) } });
    }),
  },
  {
    name: "provenance whose RUNTIME_IMAGE digest is 64 characters but not hex",
    rule: "provenance-base-digests",
    attestation: "provenance",
    change: withDependencies((deps) => {
      deps.find((d) => d.name === "RUNTIME_IMAGE").digest = { sha256: "Z".repeat(64) };
    }),
  },
];

/**
 * An accepted image's predicates, made by the release's own builders (as an existing-image
 * release writes them: the build checks not run).
 */
export function acceptedPredicates(): Predicates & { sbom: unknown } {
  const entrypoint = runtimeDenoEntrypoint();
  const id = `sha256:${"c".repeat(64)}`;
  const report = {
    tool: "swft-verify",
    ok: true,
    startedAt: "",
    options: { from: "127.0.0.1:5000/swft@sha256:..." },
    checks: POLICY_PARAMS.verify.requiredChecks.map((check) => ({
      id: check,
      status: NOT_RUN_ON_EXISTING_IMAGE.includes(check) ? "skip" : "pass",
      detail: "",
      ms: 1,
    })),
    images: { builder: { ref: "b" }, runtime: { ref: "r", id } },
  } as unknown as Report;
  return {
    provenance: buildProvenance({
      source: {
        commit: "d".repeat(40),
        rootCommit: POLICY_PARAMS.provenance.sourceRootCommits[0],
        dirty: false,
        changedPaths: 0,
        changed: [],
        hidden: [],
      },
      dockerfile: "Dockerfile",
      target: "runtime-deno",
      buildArgs: [],
      bases: [
        { name: "DENO_IMAGE", ref: "d:1", sha256: "e".repeat(64), digestOf: "engine-image-id" },
        { name: "RUNTIME_IMAGE", ref: "r:1", sha256: "f".repeat(64), digestOf: "manifest" },
      ],
      lockSha256: "0".repeat(64),
      dockerVersion: "20.10",
      deno: "2.9.6",
      signer: "key",
      builtBy: "release",
      version: "1.0.0",
      startedOn: "2026-01-01T00:00:00Z",
      finishedOn: "2026-01-01T00:00:10Z",
    }),
    "verify-proof": verifyProof(report, "1.0.0"),
    permissions: permissionsPredicate(
      { ...parseDenoRun(entrypoint), source: "entrypoint", env: [] },
      { deno: "2.9.6", entrypoint, cmd: ["serve"] },
    ),
    sbom: { bomFormat: "CycloneDX" },
  };
}
