/**
 * Compares two OCI image archives (`docker buildx build --output type=oci,dest=FILE`) the way
 * diffoci does: the manifest digests first; when they differ, the config and then the first
 * layer whose digest differs, file by file (path, type, size, mode, owner, mtime, link and
 * content hash). Written for verify's `reproducible` check and the release's `--rebuild`.
 *
 * @example
 * ```ts
 * const diff = await diffOciArchives("a.tar", "b.tar");
 * if (!diff.same) console.log(describeDiff(diff));
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { tarStream } from "../_lib/deps.ts";
import { decompressed, type Entry } from "./image_fs.ts";

/** An OCI content descriptor (the fields read here). */
export interface Descriptor {
  /** The media type. */
  mediaType?: string;
  /** `sha256:...`. */
  digest: string;
  /** Bytes. */
  size?: number;
  /** The platform of an index entry. */
  platform?: { os?: string; architecture?: string };
}

/** An image of an OCI archive: its manifest, config and layer descriptors. */
export interface OciImage {
  /** The image manifest's digest (what a registry names the image by). */
  digest: string;
  /** The config blob's digest. */
  configDigest: string;
  /** The config, parsed. */
  config: Record<string, unknown>;
  /** The layers, base first. */
  layers: Descriptor[];
  /** The instruction that made each layer, where the config's history says. */
  createdBy: string[];
}

/** One file (tar entry) of a layer, as compared. */
export interface LayerFile {
  /** The path, without a leading `./` or `/`. */
  path: string;
  /** file, dir, symlink, link... */
  type: string;
  /** Bytes. */
  size: number;
  /** Permission bits (octal, as text). */
  mode: string;
  /** `uid:gid`. */
  owner: string;
  /** Modification time in seconds since the epoch. */
  mtime: number;
  /** Link target. */
  linkname: string;
  /** sha256 of the content (files only). */
  sha256: string;
}

/** A file that differs between two layers: only in one of them, or with other fields. */
export interface FileDiff {
  /** The path. */
  path: string;
  /** In the first layer (undefined: only in the second). */
  a?: LayerFile;
  /** In the second layer (undefined: only in the first). */
  b?: LayerFile;
}

/** What {@linkcode diffOciArchives} found. */
export interface OciDiff {
  /** True when the manifest digests agree. */
  same: boolean;
  /** The two manifest digests. */
  digests: [string, string];
  /** Config fields (dotted paths) that differ; empty when the configs agree. */
  config: string[];
  /** The first layer whose digest differs, with its files that differ. */
  layer?: {
    index: number;
    count: number;
    digests: [string, string];
    createdBy?: string;
    files: FileDiff[];
  };
}

/** Small blobs (index, manifests, config) kept by {@linkcode readBlobs}. */
const SMALL_BLOB = 4 * 1024 * 1024;

/** Streams the archive and returns its small files by path (`blobs/sha256/...`, `index.json`). */
async function readBlobs(archive: string): Promise<Map<string, string>> {
  const extract = tarStream.extract();
  const file = await Deno.open(archive);
  Readable.from(file.readable).pipe(extract);
  const small = new Map<string, string>();
  for await (const raw of extract as AsyncIterable<Entry>) {
    const size = raw.header.size ?? 0;
    if (raw.header.type !== "file" || size > SMALL_BLOB) {
      for await (const _ of raw) { /* a layer: read later, only if it differs */ }
      continue;
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of raw) chunks.push(chunk);
    small.set(raw.header.name.replace(/^\.\//, ""), new TextDecoder().decode(concat(chunks)));
  }
  return small;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

const blobPath = (digest: string) => `blobs/${digest.replace(":", "/")}`;

/**
 * The image of an OCI archive: index.json's manifest, or, for a nested index, its first
 * linux/amd64 (else first) manifest that is not an attestation. Throws one line when the
 * archive is not an OCI layout.
 */
export async function readOciImage(archive: string): Promise<OciImage> {
  const blobs = await readBlobs(archive);
  const json = (path: string) => {
    const text = blobs.get(path);
    if (text === undefined) throw new Error(`Cannot read ${archive}: it has no ${path}`);
    return JSON.parse(text);
  };
  let manifest: Descriptor = pickManifest(json("index.json").manifests ?? []);
  for (let depth = 0; /index/.test(manifest.mediaType ?? "") && depth < 4; depth++) {
    manifest = pickManifest(json(blobPath(manifest.digest)).manifests ?? []);
  }
  const body = json(blobPath(manifest.digest));
  const config = json(blobPath(body.config.digest));
  const history = (config.history ?? []) as { created_by?: string; empty_layer?: boolean }[];
  return {
    digest: manifest.digest,
    configDigest: body.config.digest,
    config,
    layers: body.layers ?? [],
    createdBy: history.filter((h) => !h.empty_layer).map((h) =>
      (h.created_by ?? "").replace(/^\/bin\/sh -c (#\(nop\) )?/, "").trim()
    ),
  };
}

function pickManifest(manifests: Descriptor[]): Descriptor {
  const images = manifests.filter((m) => m.platform?.architecture !== "unknown");
  const amd64 = images.find((m) => m.platform?.architecture === "amd64");
  const chosen = amd64 ?? images[0];
  if (!chosen) throw new Error("Cannot read the OCI archive: its index lists no image");
  return chosen;
}

/** The files of one layer blob of an archive (gzip-compressed or not), by path. */
export async function readLayerFiles(
  archive: string,
  digest: string,
): Promise<Map<string, LayerFile>> {
  const outer = tarStream.extract();
  const file = await Deno.open(archive);
  Readable.from(file.readable).pipe(outer);
  let files: Map<string, LayerFile> | undefined;
  for await (const raw of outer as AsyncIterable<Entry>) {
    if (files || raw.header.name.replace(/^\.\//, "") !== blobPath(digest)) {
      for await (const _ of raw) { /* another blob */ }
      continue;
    }
    files = await listLayer(digest, raw);
  }
  if (!files) throw new Error(`Cannot find layer ${digest} in ${archive}`);
  return files;
}

async function listLayer(
  digest: string,
  blob: AsyncIterable<Uint8Array>,
): Promise<Map<string, LayerFile>> {
  const plain = await decompressed(digest, blob);
  const extract = tarStream.extract();
  Readable.from(plain).pipe(extract);
  const files = new Map<string, LayerFile>();
  for await (const raw of extract as AsyncIterable<Entry>) {
    const { header } = raw;
    const hash = createHash("sha256");
    for await (const chunk of raw) hash.update(chunk);
    const path = header.name.replace(/^\.?\/+/, "").replace(/\/$/, "");
    files.set(path, {
      path,
      type: header.type ?? "file",
      size: header.size ?? 0,
      mode: (header.mode ?? 0).toString(8),
      owner: `${header.uid ?? 0}:${header.gid ?? 0}`,
      mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
      linkname: header.linkname ?? "",
      sha256: header.type === "file" || header.type === null ? hash.digest("hex") : "",
    });
  }
  return files;
}

const FIELDS = ["type", "size", "mode", "owner", "mtime", "linkname", "sha256"] as const;

/**
 * The files that differ between two layers, by path: only in one, or with another type,
 * size, mode, owner, mtime, link or content hash.
 *
 * @example
 * ```ts
 * diffLayerFiles(a, b).map((d) => d.path); // ["deno-dir/dep_analysis_cache_v2"]
 * ```
 */
export function diffLayerFiles(
  a: ReadonlyMap<string, LayerFile>,
  b: ReadonlyMap<string, LayerFile>,
): FileDiff[] {
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.flatMap((path) => {
    const [x, y] = [a.get(path), b.get(path)];
    const same = x && y && FIELDS.every((field) => x[field] === y[field]);
    return same ? [] : [{ path, a: x, b: y }];
  });
}

/** The dotted paths of the leaves that differ between two JSON values. */
export function diffJson(a: unknown, b: unknown, at = ""): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null;
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => diffJson(a[key], b[key], at ? `${at}.${key}` : key));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at || "(root)"];
}

/**
 * Compares two OCI archives: digests, config fields, and the first differing layer's files.
 */
export async function diffOciArchives(a: string, b: string): Promise<OciDiff> {
  const [x, y] = await Promise.all([readOciImage(a), readOciImage(b)]);
  const diff: OciDiff = { same: x.digest === y.digest, digests: [x.digest, y.digest], config: [] };
  if (diff.same) return diff;
  diff.config = x.configDigest === y.configDigest ? [] : diffJson(x.config, y.config)
    .filter((path) => !path.startsWith("rootfs.diff_ids"));
  const count = Math.max(x.layers.length, y.layers.length);
  for (let index = 0; index < count; index++) {
    const [p, q] = [x.layers[index]?.digest ?? "", y.layers[index]?.digest ?? ""];
    if (p === q) continue;
    const [fa, fb] = await Promise.all([
      p ? readLayerFiles(a, p) : new Map<string, LayerFile>(),
      q ? readLayerFiles(b, q) : new Map<string, LayerFile>(),
    ]);
    diff.layer = {
      index,
      count,
      digests: [p, q],
      createdBy: x.createdBy[index],
      files: diffLayerFiles(fa, fb),
    };
    break;
  }
  return diff;
}

function fileText(file: LayerFile | undefined): string {
  if (!file) return "absent";
  const time = new Date(file.mtime * 1000).toISOString().replace(".000Z", "Z");
  const hash = file.sha256 ? ` sha256:${file.sha256.slice(0, 12)}` : "";
  return `${file.type} ${file.size} B${hash} mode ${file.mode} ${file.owner} mtime ${time}`;
}

/**
 * One line for people: the digests, then the first differing layer and up to `limit` of its
 * files (path, then each side's size, content hash, mode, owner and mtime), or the config
 * fields when only the config differs.
 *
 * @example
 * ```ts
 * describeDiff(diff); // "sha256:ab… vs sha256:cd…; layer 3 of 5 (COPY …): /app/x: file …"
 * ```
 */
export function describeDiff(diff: OciDiff, limit = 3): string {
  const short = (d: string) => d.slice(0, 19);
  const head = `${short(diff.digests[0])} vs ${short(diff.digests[1])}`;
  if (diff.same) return `${head.split(" vs ")[0]} both times`;
  const parts = [head];
  if (diff.layer) {
    const { index, count, createdBy, files } = diff.layer;
    const by = createdBy ? ` (${createdBy.slice(0, 60)})` : "";
    const shown = files.slice(0, limit).map((f) =>
      `/${f.path}: ${fileText(f.a)} vs ${fileText(f.b)}`
    );
    const more = files.length > limit ? `; ${files.length - limit} more files` : "";
    parts.push(`first differing layer ${index + 1} of ${count}${by}: ${shown.join("; ")}${more}`);
  }
  if (diff.config.length > 0) parts.push(`config differs in ${diff.config.slice(0, 5).join(", ")}`);
  return parts.join("; ");
}
