/**
 * File-system audits on an image's layers: merge layers with OCI whiteouts, find shells,
 * build tools, package managers and setuid files, resolve the user, and detect secrets.
 * Pure functions over entry lists, so they are tested without an engine.
 */
import { groupFlags } from "../_lib/mod.ts";

/** A file-system entry of one layer. `path` is absolute ("/usr/bin/sh"). */
export interface FsEntry {
  /** Absolute path. */
  path: string;
  /** "file", "dir", "symlink", "hardlink" or another tar type. */
  type: string;
  /** Permission bits, setuid and setgid included. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Target of a link. */
  linkname: string;
  /** Index of the layer, base first. */
  layer: number;
  /** Why the file's content is a secret, found while reading the layer. */
  contentSecret?: string;
}

/** Normalizes a tar member name ("./usr/bin/" -> "/usr/bin"). */
export function normalizePath(name: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  return "/" + parts.join("/");
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

function removeTree(fs: Map<string, FsEntry>, path: string, keepSelf = false): void {
  if (!keepSelf) fs.delete(path);
  const prefix = path === "/" ? "/" : path + "/";
  for (const key of fs.keys()) if (key.startsWith(prefix)) fs.delete(key);
}

/**
 * Applies layers in order, honouring whiteouts (`.wh.name` deletes `name`,
 * `.wh..wh..opq` hides what lower layers had in that directory), and returns the final
 * file system the container sees.
 */
export function mergeLayers(layers: FsEntry[][]): Map<string, FsEntry> {
  const fs = new Map<string, FsEntry>();
  for (const entries of layers) {
    for (const entry of entries) {
      const name = basename(entry.path);
      if (name === ".wh..wh..opq") removeTree(fs, dirname(entry.path), true);
      else if (name.startsWith(".wh.")) removeTree(fs, dirname(entry.path) + "/" + name.slice(4));
    }
    for (const entry of entries) {
      if (basename(entry.path).startsWith(".wh.")) continue;
      fs.set(entry.path, entry);
    }
  }
  return fs;
}

/** Bytes of regular files in lower layers that a later layer replaced or deleted. */
export function wastedBytes(layers: FsEntry[][], merged: Map<string, FsEntry>): number {
  let all = 0;
  for (const entries of layers) {
    for (const e of entries) {
      if (e.type === "file" && !basename(e.path).startsWith(".wh.")) all += e.size;
    }
  }
  let kept = 0;
  for (const e of merged.values()) if (e.type === "file") kept += e.size;
  return all - kept;
}

/** Shells, including busybox whose applets provide one. */
export const SHELLS = /^(sh|bash|dash|ash|busybox|zsh|ksh|ksh93|mksh|fish|csh|tcsh|toybox)$/;
/** Compilers, linkers, assemblers and make, also versioned or triplet-prefixed (gcc-12). */
export const BUILD_TOOLS =
  /^(?:[a-z0-9_]+-linux-gnu-)?(gcc|cc|c\+\+|g\+\+|cpp|clang|clang\+\+|tcc|make|gmake|cmake|ninja|ld|ld\.bfd|ld\.gold|ld\.lld|lld|as|rustc|cargo)(?:-[\d.]+)?$/;
/** System and language package managers. */
export const PACKAGE_MANAGERS =
  /^(apt|apt-get|apt-cache|aptitude|dpkg|dpkg-deb|apk|yum|dnf|microdnf|rpm|zypper|pacman|pip|pip[23](?:\.\d+)?|npm|npx|yarn|pnpm|gem|conda)$/;

const BIN_DIRS = /^\/(?:usr\/(?:local\/)?)?s?bin\//;

/**
 * Paths in the merged file system whose name matches `pattern` and that can be run:
 * executable files, links, or anything in a bin directory.
 */
export function findPrograms(fs: Map<string, FsEntry>, pattern: RegExp): string[] {
  const found: string[] = [];
  for (const entry of fs.values()) {
    if (entry.type === "dir" || !pattern.test(basename(entry.path))) continue;
    const runnable = entry.type === "symlink" || entry.type === "hardlink" ||
      (entry.mode & 0o111) !== 0 || BIN_DIRS.test(entry.path);
    if (runnable) found.push(entry.path);
  }
  return found.sort();
}

/** Regular files with the setuid or setgid bit. */
export function findSetuid(fs: Map<string, FsEntry>): string[] {
  return [...fs.values()]
    .filter((e) => e.type === "file" && (e.mode & 0o6000) !== 0)
    .map((e) => e.path)
    .sort();
}

/** The result of resolving an image's configured user. */
export interface ResolvedUser {
  /** The uid, when known. */
  uid?: number;
  /** The user's name (or number) as configured. */
  name: string;
  /** Why the user is root or unknown, when it is. */
  problem?: string;
}

/**
 * Resolves `Config.User` (`""`, `"65532"`, `"nonroot"`, `"app:app"`) to a uid with the
 * image's /etc/passwd. An empty user means root.
 */
export function resolveUser(user: string, passwd?: string): ResolvedUser {
  const name = user.split(":")[0].trim();
  if (name === "") return { uid: 0, name: "root", problem: "no User in the image config (root)" };
  if (/^\d+$/.test(name)) return { uid: Number(name), name };
  for (const line of (passwd ?? "").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields.length >= 3) return { uid: Number(fields[2]), name };
  }
  return { name, problem: `user "${name}" is not in the image's /etc/passwd` };
}

/** Why a path is a secret by its name alone, or a content test to run, or nothing. */
export function secretByPath(path: string): string | "content" | undefined {
  const name = basename(path);
  if (name === ".env" || /^\.env\.(?!example$|sample$|template$|dist$|defaults$)/.test(name)) {
    return ".env file";
  }
  if (/^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/.test(name)) return "SSH private key file";
  if (/\/\.aws\/credentials$/.test(path)) return "AWS credentials file";
  if (/\/\.config\/gcloud\/(credentials\.db|access_tokens\.db|legacy_credentials\/)/.test(path)) {
    return "gcloud credentials";
  }
  if (name === "application_default_credentials.json") return "Google application credentials";
  if (name === ".git-credentials") return "git credentials file";
  if (name === ".npmrc" || name === ".pypirc" || /\/\.docker\/config\.json$/.test(path)) {
    return "content";
  }
  return undefined;
}

const PEM_PRIVATE_KEY =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n(?:[^\n]*\n){0,3}[A-Za-z0-9+/=]{40,}/;

/**
 * Why the content of a file is a secret: a PEM private key with key material (not merely
 * the header string a TLS library contains), an npm auth token, a registry password.
 */
export function secretByContent(path: string, content: string): string | undefined {
  if (PEM_PRIVATE_KEY.test(content)) return "PEM private key";
  const name = basename(path);
  if (name === ".npmrc" && /_auth(Token)?\s*=\s*\S/.test(content)) {
    return ".npmrc with an auth token";
  }
  if (name === ".pypirc" && /^\s*password\s*[=:]\s*\S/m.test(content)) {
    return ".pypirc with a password";
  }
  if (name === "config.json" && /"auth"\s*:\s*"[^"]+"/.test(content)) {
    return "docker config with credentials";
  }
  return undefined;
}

/** Largest file whose content is read for secrets; keys and token files are tiny. */
export const CONTENT_SCAN_LIMIT = 1024 * 1024;

/** True for content that is an ELF binary: skipped, its strings are code, not keys. */
export function isBinary(head: Uint8Array): boolean {
  return head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}

/** The paths a `deno run` command line lets the process read: `["/"]` for a bare flag or `-A`. */
export function readPaths(permissions: string[]): string[] {
  const read = groupFlags(permissions).allow.read ?? [];
  if (permissions.includes("--allow-all") || read.includes("*")) return ["/"];
  return read.map(normalizePath);
}

/**
 * The links a process allowed to read `paths` can follow out of them: a symlink inside a read
 * path (or standing for one of its folders) points wherever it likes and Deno follows it; a
 * hard link inside one is the very file it links. Listed as `path -> target`.
 */
export function linksInReadPaths(merged: Map<string, FsEntry>, paths: string[]): string[] {
  const inside = (path: string) =>
    paths.some((p) => p === "/" || path === p || path.startsWith(`${p}/`));
  const above = (path: string) => paths.some((p) => p.startsWith(`${path}/`));
  const found: string[] = [];
  for (const entry of merged.values()) {
    const link = entry.type === "symlink" || entry.type === "hardlink";
    if (link && (inside(entry.path) || (entry.type === "symlink" && above(entry.path)))) {
      found.push(`${entry.path} -> ${entry.linkname}`);
    }
  }
  return found.sort();
}
