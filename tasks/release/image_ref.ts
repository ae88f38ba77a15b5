/**
 * Image references as the release reads them: `REGISTRY/REPO:TAG` or `REGISTRY/REPO@sha256:...`.
 *
 * @module
 */

/** A parsed image reference. */
export interface ImageRef {
  /** Registry host, with its port: `ghcr.io`, `127.0.0.1:5000`. */
  registry: string;
  /** `REGISTRY/REPO`, without tag or digest. */
  name: string;
  /** The tag, when named. */
  tag?: string;
  /** The digest (`sha256:...`), when named. */
  digest?: string;
}

/**
 * Parses an image reference that names its registry; throws a one-line message otherwise.
 *
 * @example
 * ```ts
 * parseImageRef("127.0.0.1:5000/swft:1.0.0");
 * // { registry: "127.0.0.1:5000", name: "127.0.0.1:5000/swft", tag: "1.0.0" }
 * ```
 */
export function parseImageRef(ref: string): ImageRef {
  if (!ref.includes("/")) {
    throw new Error(
      `Cannot read "${ref}": it names no registry; use REGISTRY/REPO:TAG, e.g. ghcr.io/acme/swft:1.0.0`,
    );
  }
  const match =
    /^([^/@]+)\/([a-z0-9]+(?:(?:[._]|__|-+|\/)[a-z0-9]+)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/
      .exec(ref);
  if (!match) {
    throw new Error(
      `Cannot read "${ref}": it is not an image reference of the form REGISTRY/REPO:TAG (lower-case repository)`,
    );
  }
  const [, registry, repo, tag, digest] = match;
  // Docker's own rule: the first part is a registry only with a dot, a port or "localhost".
  if (!/[.:]/.test(registry) && registry !== "localhost") {
    throw new Error(
      `Cannot read "${ref}": it names no registry; the first part must be a host such as ghcr.io or 127.0.0.1:5000`,
    );
  }
  return { registry, name: `${registry}/${repo}`, tag, digest };
}

/**
 * True for a registry on the loopback network, which Docker (and the release) reaches over
 * plain HTTP: `127.0.0.0/8`, `localhost`, `[::1]`.
 *
 * @example
 * ```ts
 * isLoopbackRegistry("127.0.0.1:5000"); // true
 * isLoopbackRegistry("ghcr.io"); // false
 * ```
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry
    .replace(/:\d+$/, "");
  return host === "localhost" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The manifest digest the registry assigned, from `docker push` output: its closing line is
 * `TAG: digest: sha256:... size: N`.
 *
 * @example
 * ```ts
 * pushedDigest("1.0.0: digest: sha256:ab12... size: 1160", "1.0.0"); // "sha256:ab12..."
 * ```
 */
export function pushedDigest(output: string, tag: string): string | undefined {
  const escaped = tag.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escaped}: digest: (sha256:[0-9a-f]{64}) size: \\d+`, "m").exec(output)
    ?.[1];
}
