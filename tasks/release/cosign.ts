/**
 * cosign as the release uses it: sign a digest, attest an SBOM to it, and verify both.
 *
 * Two ways to sign, as cosign itself offers them:
 * - a key pair (`--key cosign.key`, its password in `COSIGN_PASSWORD`); verified with the
 *   public key, which is derived from the private key (`cosign public-key`);
 * - keyless (no `--key`): cosign takes the CI's OIDC token (GitHub Actions with
 *   `id-token: write`), gets a short-lived certificate and records the signature in the
 *   transparency log; verified against the signer's identity and OIDC issuer.
 *
 * Flags that lower cosign's guards, each only where it applies:
 * - `--allow-http-registry --allow-insecure-registry` for a registry on the loopback network
 *   (the same rule by which Docker pushes to it over plain HTTP);
 * - `--tlog-upload=false` (sign, attest) and `--insecure-ignore-tlog` (verify) with `--no-tlog`:
 *   no transparency log, so nobody can audit when the key was used; the signature itself is
 *   still checked against the public key. For offline and private setups only.
 *
 * @module
 */
import { lastLines, run, type RunResult } from "../_lib/mod.ts";
import { toolCommand } from "./tools.ts";

/** How the release signs and verifies. */
export interface SigningOptions {
  /** Private key file (sign); without it, keyless signing. */
  key?: string;
  /** Public key file (verify); required with `key`. */
  publicKey?: string;
  /** Keyless verification: the certificate identity (e.g. the workflow's URL at the ref). */
  identity?: string;
  /** Keyless verification: the OIDC issuer. */
  issuer?: string;
  /** No transparency log: `--tlog-upload=false` / `--insecure-ignore-tlog`. */
  noTlog: boolean;
  /** Plain-HTTP registry on the loopback network. */
  loopback: boolean;
}

/** How to run cosign: `$COSIGN`, the release tools folder's, or `cosign` on PATH. */
export function cosignCommand(): string {
  return toolCommand("cosign", "COSIGN");
}

function registryFlags(options: SigningOptions): string[] {
  return options.loopback ? ["--allow-http-registry", "--allow-insecure-registry"] : [];
}

/** What `cosign sign` and `cosign attest` share: who signs, where, and whether it is logged. */
function signerFlags(options: SigningOptions): string[] {
  return [
    ...(options.key ? ["--key", options.key] : []),
    ...registryFlags(options),
    ...(options.noTlog ? ["--tlog-upload=false"] : []),
  ];
}

function verifierFlags(options: SigningOptions): string[] {
  const who = options.publicKey ? ["--key", options.publicKey] : [
    "--certificate-identity",
    options.identity ?? "",
    "--certificate-oidc-issuer",
    options.issuer ?? "",
  ];
  return [
    ...who,
    ...registryFlags(options),
    ...(options.noTlog ? ["--insecure-ignore-tlog"] : []),
  ];
}

/**
 * `cosign sign` of one digest-pinned reference.
 *
 * @example
 * ```ts
 * signArgs("127.0.0.1:5000/swft@sha256:ab...", { key: "cosign.key", noTlog: true, loopback: true });
 * ```
 */
export function signArgs(ref: string, options: SigningOptions): string[] {
  return [
    "sign",
    "--yes",
    ...signerFlags(options),
    ref,
  ];
}

/**
 * `cosign attest --type TYPE` of the predicate file `predicate` to a digest-pinned reference
 * (TYPE: `cyclonedx`, `slsaprovenance1`, `vuln` or a predicate type URI).
 */
export function attestArgs(
  ref: string,
  predicate: string,
  options: SigningOptions,
  type = "cyclonedx",
): string[] {
  return [
    "attest",
    "--yes",
    "--type",
    type,
    "--predicate",
    predicate,
    ...signerFlags(options),
    ref,
  ];
}

/** `cosign save --dir DIR` of a reference: the image, its signatures and attestations. */
export function saveArgs(ref: string, dir: string, options: SigningOptions): string[] {
  return ["save", "--dir", dir, ...registryFlags(options), ref];
}

/** `cosign verify` of a reference (by digest, or by tag for a consumer's check). */
export function verifyArgs(ref: string, options: SigningOptions): string[] {
  return ["verify", "--output", "json", ...verifierFlags(options), ref];
}

/**
 * `cosign verify-attestation --type TYPE` of a reference (or, with `localImage`, of a folder in
 * `cosign save`'s layout), under a CUE policy file when given (cosign evaluates it on each
 * attestation of that type).
 */
export function verifyAttestationArgs(
  ref: string,
  options: SigningOptions,
  check: { type?: string; policy?: string; localImage?: boolean } = {},
): string[] {
  return [
    "verify-attestation",
    "--type",
    check.type ?? "cyclonedx",
    ...(check.policy ? ["--policy", check.policy] : []),
    // `ref` is a folder as `cosign save` writes it.
    ...(check.localImage ? ["--local-image"] : []),
    ...verifierFlags(options),
    ref,
  ];
}

/**
 * Runs cosign (with `env` added to its environment); a missing binary becomes a one-line error
 * that says how to get one.
 */
export async function cosign(
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<RunResult> {
  const cmd = cosignCommand();
  const result = await run(cmd, args, options);
  if (result.code === 127) {
    throw new Error(`Cannot run cosign (${cmd}): run deno task release:tools, or set COSIGN`);
  }
  return result;
}

/**
 * cosign's own last words about a failure, as one line; an unreachable transparency log (cosign
 * retries, then prints every attempt) becomes one line that names `--no-tlog`.
 */
export function cosignFailure(result: RunResult): string {
  const all = result.stderr || result.stdout;
  if (
    /rekor|tuf|transparency log|tlog/i.test(all) &&
    /dial tcp|no such host|connection refused|i\/o timeout|giving up after|deadline exceeded|network is unreachable/i
      .test(all)
  ) {
    const host = /https?:\/\/([^/"\s]+)/.exec(all)?.[1] ?? "the transparency log";
    return `Cannot reach the transparency log (${host}): with a key pair, sign and verify ` +
      "offline with --no-tlog (nothing is then recorded in a log)";
  }
  const text = all
    // cosign prints the usage text after some errors; the first line is the reason.
    .replace(/\nUsage:[\s\S]*$/, "");
  // cosign says it twice ("Error: X", then "error during command execution: X"): once will do.
  const error = /^Error: (.*)$/m.exec(text)?.[1];
  return error ?? (lastLines(text.replace(/^WARNING:.*$/gm, ""), 2) || `exit ${result.code}`);
}

/**
 * The manifest digests `cosign verify --output json` vouched for.
 *
 * @example
 * ```ts
 * verifiedDigests('[{"critical":{"image":{"docker-manifest-digest":"sha256:ab"}}}]'); // ["sha256:ab"]
 * ```
 */
export function verifiedDigests(stdout: string): string[] {
  try {
    const list = JSON.parse(stdout) as { critical?: { image?: Record<string, string> } }[];
    return list.map((s) => s.critical?.image?.["docker-manifest-digest"] ?? "").filter(Boolean);
  } catch {
    return [];
  }
}

/** One in-toto statement from `cosign verify-attestation` output. */
export interface Statement {
  /** e.g. `https://cyclonedx.org/bom`. */
  predicateType: string;
  /** What the statement is about: the image, by digest. */
  subject: { name: string; digest: Record<string, string> }[];
  /** The attested document (the SBOM). */
  predicate: unknown;
}

/**
 * The in-toto statements in `cosign verify-attestation` output (one DSSE envelope a line,
 * its payload base64-encoded).
 */
export function attestedStatements(stdout: string): Statement[] {
  const statements: Statement[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.trim().startsWith("{")) continue;
    try {
      const envelope = JSON.parse(line) as { payload?: string };
      if (!envelope.payload) continue;
      const bytes = Uint8Array.from(atob(envelope.payload), (c) => c.charCodeAt(0));
      statements.push(JSON.parse(new TextDecoder().decode(bytes)));
    } catch {
      // not an envelope
    }
  }
  return statements;
}

/**
 * The statements of `predicateType` about the image `digest` (`sha256:...`) in `cosign
 * verify-attestation` output: cosign checks the signatures, not which image or kind a signed
 * statement names.
 *
 * @example
 * ```ts
 * statementsAbout(result.stdout, PROVENANCE_TYPE, "sha256:ab...").length; // 1
 * ```
 */
export function statementsAbout(
  stdout: string,
  predicateType: string,
  digest: string,
): Statement[] {
  const hex = digest.slice("sha256:".length);
  return attestedStatements(stdout).filter((s) =>
    s.predicateType === predicateType &&
    Array.isArray(s.subject) && s.subject.some((x) => x?.digest?.sha256 === hex)
  );
}
