/**
 * The release's SBOM: one CycloneDX document for the image, from two cdxgen runs merged.
 *
 * - `cdxgen -t deno` reads deno.lock: the npm packages (with their integrity hashes) that are
 *   inside the app, and inside the compiled binary where no image scanner can see them.
 * - `cdxgen -t docker` reads the local image: its Debian packages (libc6, libssl3t64, ...).
 * - Deno itself, with the version the image's own binary reports.
 *
 * cdxgen has no option to merge a source BOM with an image BOM (and CycloneDX's own `merge`
 * is a .NET tool that is not on npm), so {@linkcode mergeBoms} does it here: it is a union by
 * package URL with the lockfile's entries preferred, because they carry the hashes.
 *
 * @module
 */
import { lastLines, pass, ROOT, run } from "../../_lib/mod.ts";
import { pruneLock } from "../../_lib/image_lock.ts";
import { denoVersionOf, publishing, type ReleaseRun, type ReleaseStep } from "../run.ts";
import { toolCommand } from "../tools.ts";
import { cond, jp } from "./_kyverno.ts";
import type { Attestation } from "./mod.ts";

/** CycloneDX SBOM: the predicate type cosign's `cyclonedx` stands for. */
export const SBOM_TYPE = "https://cyclonedx.org/bom";

/** The parts of deno.lock (version 5) that {@linkcode appPackages} needs. */
export type LockFile = {
  /** Lock format version ("5"). */
  version: string;
  /** Specifier (`npm:hono@^4`) to resolved version. */
  specifiers?: Record<string, string>;
  /** Package id (`hono@4.13.19`) to its dependencies. */
  npm?: Record<string, { dependencies?: string[] }>;
  /** The project's own dependencies. */
  workspace?: { dependencies?: string[] };
};

/** The parts of a CycloneDX component the release reads and writes. */
export interface Component {
  /** `library`, `application`, `container`, `file`, ... */
  type: string;
  /** Package or file name. */
  name: string;
  /** Package version. */
  version?: string;
  /** Package URL, e.g. `pkg:npm/hono@4.13.19`. */
  purl?: string;
  /** Identifier within the document (dependencies refer to it). */
  "bom-ref"?: string;
  /** npm scope or other namespace. */
  group?: string;
  /** Content hashes, e.g. deno.lock's SHA-512. */
  hashes?: { alg: string; content: string }[];
  /** Whatever else cdxgen recorded, kept as is. */
  [key: string]: unknown;
}

/** The parts of a CycloneDX document the release reads and writes. */
export interface Bom {
  /** Always `CycloneDX`. */
  bomFormat: string;
  /** CycloneDX specification version. */
  specVersion: string;
  /** `urn:uuid:...`, unique per document. */
  serialNumber?: string;
  /** Revision of the document. */
  version?: number;
  /** The subject (`component`) and the generator. */
  metadata?: { component?: Component; [key: string]: unknown };
  /** Everything the document lists. */
  components?: Component[];
  /** Which component depends on which, by `bom-ref`. */
  dependencies?: { ref: string; dependsOn?: string[] }[];
  /** Whatever else cdxgen recorded, kept as is. */
  [key: string]: unknown;
}

/** What the merged SBOM describes. */
export interface SbomSubject {
  /** `REGISTRY/REPO`, without tag or digest. */
  name: string;
  /** The registry's manifest digest, `sha256:...`. */
  digest: string;
  /** The tag that was pushed. */
  tag: string;
  /** Deno's version inside the image (from its `--version`). */
  denoVersion: string;
}

/**
 * The `name@version` ids of the npm packages the app depends on: those the image's npm layer
 * keeps (the kernel's `pruneLock`, which the Dockerfile runs too). Packages that only the
 * tasks use stay out of the SBOM, as they stay out of the image.
 *
 * @example
 * ```ts
 * appPackages(JSON.parse(Deno.readTextFileSync("deno.lock"))); // Set { "eta@4.6.0", ... }
 * ```
 */
export function appPackages(lock: LockFile): Set<string> {
  return new Set(Object.keys(pruneLock(lock).npm ?? {}));
}

function npmKey(component: Component): string | undefined {
  if (!component.purl?.startsWith("pkg:npm/")) return undefined;
  const name = component.group ? `${component.group}/${component.name}` : component.name;
  return `${name}@${component.version}`;
}

/**
 * One CycloneDX document for the released image: the image's components (OS packages, files)
 * and the lockfile's npm packages (filtered to `appPackages`, with hashes), a component for
 * Deno, and the image itself as the BOM's subject (`pkg:oci/...@sha256:...`).
 *
 * @example
 * ```ts
 * const bom = mergeBoms(imageBom, lockBom, { name: "127.0.0.1:5000/swft", tag: "1.0.0",
 *   digest: "sha256:...", denoVersion: "2.9.6" }, appPackages(lock));
 * ```
 */
export function mergeBoms(
  imageBom: Bom,
  lockBom: Bom,
  subject: SbomSubject,
  app: Set<string>,
): Bom {
  const repo = subject.name.slice(subject.name.lastIndexOf("/") + 1);
  const imageRef = `pkg:oci/${repo}@${encodeURIComponent(subject.digest)}?repository_url=${
    encodeURIComponent(subject.name)
  }&tag=${encodeURIComponent(subject.tag)}`;
  const deno: Component = {
    type: "application",
    name: "deno",
    version: subject.denoVersion,
    purl: `pkg:github/denoland/deno@v${subject.denoVersion}`,
    "bom-ref": `pkg:github/denoland/deno@v${subject.denoVersion}`,
    description: "The Deno runtime that runs the app (deno run, or denort inside deno compile)",
  };
  const appComponent = lockBom.metadata?.component;

  const byRef = new Map<string, Component>();
  const refOf = (c: Component) => c["bom-ref"] ?? c.purl ?? `${c.name}@${c.version}`;
  // Lockfile first: where both list a package (runtime-deno keeps npm packages in DENO_DIR),
  // the lockfile's entry wins, with its hashes.
  for (const component of lockBom.components ?? []) {
    const key = npmKey(component);
    if (key && !app.has(key)) continue;
    byRef.set(refOf(component), component);
  }
  for (const component of imageBom.components ?? []) {
    const ref = refOf(component);
    // The image scan sees a generic "deno" file; the versioned component below replaces it.
    if (component.purl === "pkg:generic/deno" || byRef.has(ref)) continue;
    const key = npmKey(component);
    if (key && [...byRef.values()].some((c) => npmKey(c) === key)) continue;
    byRef.set(ref, component);
  }
  if (appComponent) byRef.set(refOf(appComponent), appComponent);
  byRef.set(refOf(deno), deno);
  const components = [...byRef.values()];
  const known = new Set(byRef.keys());

  const dependencies = new Map<string, Set<string>>();
  for (const dep of [...(lockBom.dependencies ?? []), ...(imageBom.dependencies ?? [])]) {
    if (!known.has(dep.ref)) continue;
    const set = dependencies.get(dep.ref) ?? new Set();
    for (const on of dep.dependsOn ?? []) if (known.has(on)) set.add(on);
    dependencies.set(dep.ref, set);
  }
  const top = [appComponent && refOf(appComponent), deno["bom-ref"]!]
    .filter((r): r is string => Boolean(r));
  dependencies.set(imageRef, new Set(top));

  return {
    bomFormat: "CycloneDX",
    specVersion: imageBom.specVersion ?? lockBom.specVersion,
    serialNumber: `urn:uuid:${crypto.randomUUID()}`,
    version: 1,
    metadata: {
      ...imageBom.metadata,
      timestamp: new Date().toISOString(),
      component: {
        type: "container",
        name: subject.name,
        version: subject.digest,
        purl: imageRef,
        "bom-ref": imageRef,
      },
    },
    components,
    dependencies: [...dependencies].map(([ref, on]) => ({ ref, dependsOn: [...on] })),
  };
}

/** How to run cdxgen: `$CDXGEN`, the release tools folder's, or `cdxgen` on PATH. */
export function cdxgenCommand(): string {
  return toolCommand("cdxgen", "CDXGEN");
}

/**
 * Runs cdxgen offline into `output` and returns the parsed BOM; throws one line on failure.
 * `--no-install-deps`: read what is there, fetch nothing.
 */
export async function cdxgen(
  type: "deno" | "docker",
  source: string,
  output: string,
): Promise<Bom> {
  const cmd = cdxgenCommand();
  const args = ["-t", type, "--no-install-deps", "--no-recurse", "-o", output, source];
  const result = await run(cmd, args, {
    // FETCH_LICENSE=false: no registry look-ups for licences; CDXGEN_NO_BANNER: quieter.
    env: { FETCH_LICENSE: "false", CDXGEN_NO_BANNER: "true", NO_COLOR: "1" },
  });
  if (result.code === 127) {
    throw new Error(
      `Cannot run cdxgen (${cmd}): run deno task release:tools, or set CDXGEN`,
    );
  }
  let bom: Bom | undefined;
  try {
    bom = JSON.parse(await Deno.readTextFile(output));
  } catch {
    bom = undefined;
  }
  if (result.code !== 0 || !bom?.bomFormat) {
    throw new Error(
      `cdxgen -t ${type} ${source} failed: ${
        lastLines(result.stderr || result.stdout, 2) || `exit ${result.code}`
      }`,
    );
  }
  return bom;
}

async function sbomOf(r: ReleaseRun): Promise<Bom> {
  // Only the lockfile and the manifest: cdxgen reads nothing else of the project.
  const project = `${r.tmp}/project`;
  await Deno.mkdir(project);
  await Deno.copyFile(`${ROOT}/deno.json`, `${project}/deno.json`);
  await Deno.copyFile(`${ROOT}/deno.lock`, `${project}/deno.lock`);
  // The two scans are independent: side by side, the lockfile's (about 2 s) hides in the
  // image's. Both are awaited before a failure is reported, so none outlives the step.
  const [image, locked] = await Promise.allSettled([
    // By digest: the image that was pushed, even if the local tag moved since.
    cdxgen("docker", r.pinned!, `${r.tmp}/image.cdx.json`),
    cdxgen("deno", project, `${r.tmp}/lock.cdx.json`),
  ]);
  if (image.status === "rejected") throw image.reason;
  if (locked.status === "rejected") throw locked.reason;
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.lock`));
  return mergeBoms(image.value, locked.value, {
    name: r.options.image.name,
    tag: r.options.image.tag!,
    digest: r.digest!,
    denoVersion: await denoVersionOf(r),
  }, appPackages(lock));
}

/** `sbom`: one CycloneDX document for the pushed digest, kept with `--sbom`. */
export const sbomStep: ReleaseStep = {
  id: "sbom",
  when: publishing,
  async run(r) {
    const bom = await sbomOf(r);
    const kept = r.options.sbom;
    r.bom = bom;
    const path = kept ?? `${r.tmp}/sbom.cdx.json`;
    await Deno.writeTextFile(path, JSON.stringify(bom, null, 2) + "\n");
    r.predicates.sbom = path;
    const components = bom.components?.length ?? 0;
    r.report.sbom = { path: kept ?? null, components };
    return pass(`${components} components${kept ? ` in ${kept}` : ""}`);
  },
};

/** The SBOM attestation (cosign's `cyclonedx`); the policy's rule `sbom-format`. */
export const sbom: Attestation = {
  name: "sbom",
  cosignType: "cyclonedx",
  predicateType: SBOM_TYPE,
  step: sbomStep,
  // The attested SBOM must be the one this run generated.
  checkAttested(r, statements) {
    const serial = r.bom?.serialNumber;
    if (serial && !statements.some((s) => (s.predicate as Bom)?.serialNumber === serial)) {
      throw new Error(
        `Cannot verify the SBOM: the attested one is not the one generated (${serial})`,
      );
    }
    return Promise.resolve();
  },
  kyverno: () => [{
    all: [
      cond(jp("bomFormat"), "Equals", "CycloneDX", "rule sbom-format: not a CycloneDX document"),
    ],
  }],
};
