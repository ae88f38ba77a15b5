/**
 * Reads an image's layers from `docker save` (legacy and OCI layouts both list their layer
 * tars in manifest.json; plain or gzip), so audits see every layer, deleted files included, without running
 * anything inside the image. The archive and each layer are streamed once with `tar-stream`;
 * small text files are scanned for secrets on the way, so no file content is kept but
 * /etc/passwd's.
 */
import { Readable } from "node:stream";
import { docker, lastLines } from "../_lib/mod.ts";
import { tarStream } from "../_lib/deps.ts";
import {
  CONTENT_SCAN_LIMIT,
  type FsEntry,
  isBinary,
  mergeLayers,
  normalizePath,
  secretByContent,
  secretByPath,
  wastedBytes,
} from "./scan.ts";

/** An image's layers and merged view. */
export interface ImageFs {
  /** Each layer's entries, base layer first. */
  layers: FsEntry[][];
  /** The file system the container sees. */
  merged: Map<string, FsEntry>;
  /** The Dockerfile instruction that created each layer, when the history says. */
  createdBy: string[];
  /** Bytes of files a later layer replaced or deleted. */
  wastedBytes: number;
  /** Content of /etc/passwd, if the image has one. */
  passwd?: string;
}

/** Files whose content the audits read after loading. */
const KEEP = new Set(["/etc/passwd"]);

/** A `tar-stream` entry: its header fields that the readers use, and its content. */
export type Entry = AsyncIterable<Uint8Array> & {
  header: {
    name: string;
    type: string | null;
    mode?: number;
    size?: number;
    uid?: number;
    gid?: number;
    mtime?: Date;
    linkname?: string | null;
  };
};

async function bytesOf(stream: AsyncIterable<Uint8Array>, limit = Infinity): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of stream) {
    if (length < limit) chunks.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(Math.min(length, chunks.reduce((n, c) => n + c.length, 0)));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

const TYPES: Record<string, string> = {
  file: "file",
  "contiguous-file": "file",
  directory: "dir",
  symlink: "symlink",
  link: "hardlink",
};

/**
 * Reads one layer tar into entries; content of small text files is checked for secrets and
 * dropped, except the files in {@linkcode KEEP}.
 */
export async function readLayer(
  source: AsyncIterable<Uint8Array>,
  layer: number,
): Promise<{ entries: FsEntry[]; kept: Map<string, string> }> {
  const extract = tarStream.extract();
  Readable.from(source).pipe(extract);
  const entries: FsEntry[] = [];
  const kept = new Map<string, string>();
  const decoder = new TextDecoder();
  for await (const raw of extract as AsyncIterable<Entry>) {
    const { header } = raw;
    const path = normalizePath(header.name);
    const entry: FsEntry = {
      path,
      type: TYPES[header.type ?? "file"] ?? header.type ?? "file",
      mode: header.mode ?? 0,
      size: header.size ?? 0,
      linkname: header.linkname ?? "",
      layer,
    };
    entries.push(entry);
    const scan = entry.type === "file" && entry.size > 0 && entry.size <= CONTENT_SCAN_LIMIT;
    if (!scan) {
      for await (const _ of raw) { /* skip the content */ }
      continue;
    }
    const bytes = await bytesOf(raw);
    if (isBinary(bytes)) continue;
    const text = decoder.decode(bytes);
    entry.contentSecret = secretByContent(path, text);
    if (KEEP.has(path)) kept.set(path, text);
  }
  return { entries, kept };
}

/** Chunks of `stream`, the first of them at least `n` bytes long (unless the stream ends). */
async function peek(
  stream: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; rest: AsyncIterable<Uint8Array> }> {
  const iterator = stream[Symbol.asyncIterator]();
  let head = new Uint8Array(0);
  while (head.length < n) {
    const { value, done } = await iterator.next();
    if (done) break;
    const joined = new Uint8Array(head.length + value.length);
    joined.set(head);
    joined.set(value, head.length);
    head = joined;
  }
  const rest = { [Symbol.asyncIterator]: () => iterator };
  return { head, rest };
}

async function* concat(head: Uint8Array, rest: AsyncIterable<Uint8Array>) {
  if (head.length > 0) yield head;
  yield* rest;
}

const isTar = (head: Uint8Array) =>
  head.length >= 512 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar";
const isEmptyTar = (head: Uint8Array) => head.length >= 512 && head.every((b) => b === 0);

const isGzip = (head: Uint8Array) => head[0] === 0x1f && head[1] === 0x8b;
const isZstd = (head: Uint8Array) =>
  head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;

/**
 * A blob of `docker save`'s archive (or of an OCI archive) as its plain bytes: the containerd
 * image store (BuildKit's engines) saves gzip layers, the legacy store plain tars. A compression
 * we cannot read refuses.
 */
export async function decompressed(
  name: string,
  blob: AsyncIterable<Uint8Array>,
): Promise<AsyncIterable<Uint8Array>> {
  const { head, rest } = await peek(blob, 4);
  if (isZstd(head)) {
    throw new Error(`Cannot read layer ${name}: zstd layers are not supported; save it as gzip`);
  }
  if (!isGzip(head)) return concat(head, rest);
  const gunzip = new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>;
  return ReadableStream.from(concat(head, rest)).pipeThrough(gunzip);
}

/** Streams `docker save` of `ref` and indexes its layers (`dir` holds nothing afterwards). */
export async function loadImageFs(ref: string, dir: string): Promise<ImageFs> {
  const path = `${dir}/image.tar`;
  const saved = await docker(["save", "-o", path, ref]);
  if (saved.code !== 0) throw new Error(`Cannot save the image: ${lastLines(saved.stderr, 2)}`);
  try {
    const file = await Deno.open(path);
    const outer = tarStream.extract();
    Readable.from(file.readable).pipe(outer);
    const layerByName = new Map<string, { entries: FsEntry[]; kept: Map<string, string> }>();
    const jsonByName = new Map<string, string>();
    const links = new Map<string, string>();
    let index = 0;
    for await (const raw of outer as AsyncIterable<Entry>) {
      const name = normalizePath(raw.header.name);
      if (raw.header.type === "symlink") {
        const base = name.split("/").slice(0, -1).join("/");
        const target = raw.header.linkname ?? "";
        links.set(name, normalizePath(target.startsWith("/") ? target : `${base}/${target}`));
      }
      if (raw.header.type !== "file") {
        for await (const _ of raw) { /* not a blob */ }
        continue;
      }
      const { head, rest } = await peek(await decompressed(name, raw), 512);
      if (isTar(head) || isEmptyTar(head)) {
        layerByName.set(name, await readLayer(concat(head, rest), index++));
      } else {
        jsonByName.set(name, new TextDecoder().decode(await bytesOf(concat(head, rest), 16e6)));
      }
    }
    const resolve = (name: string) => {
      let at = normalizePath(name);
      for (let hops = 0; links.has(at) && hops < 8; hops++) at = links.get(at)!;
      return at;
    };
    const manifestText = jsonByName.get(resolve("manifest.json"));
    if (!manifestText) throw new Error("Cannot read docker save's output: it has no manifest.json");
    const manifest = JSON.parse(manifestText) as { Config: string; Layers: string[] }[];
    const configText = jsonByName.get(resolve(manifest[0].Config));
    const config = configText ? JSON.parse(configText) : {};
    const createdBy = ((config.history ?? []) as { created_by?: string; empty_layer?: boolean }[])
      .filter((h) => !h.empty_layer)
      .map((h) => (h.created_by ?? "").replace(/^\/bin\/sh -c (#\(nop\) )?/, "").trim());
    const layers: FsEntry[][] = [];
    let passwd: string | undefined;
    for (const [i, layerName] of manifest[0].Layers.entries()) {
      const layer = layerByName.get(resolve(layerName));
      if (!layer) throw new Error(`Cannot find layer ${layerName} in docker save's output`);
      // the same blob may serve twice; entries carry the position in this image
      layers.push(layer.entries.map((e) => ({ ...e, layer: i })));
      if (layer.entries.some((e) => e.path === "/etc/passwd")) {
        passwd = layer.kept.get("/etc/passwd");
      }
    }
    const merged = mergeLayers(layers);
    return { layers, merged, createdBy, wastedBytes: wastedBytes(layers, merged), passwd };
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

/** A secret found in a layer; `present` is false when a later layer deleted it. */
export interface SecretFinding {
  /** Absolute path in the layer. */
  path: string;
  /** Index of the layer, base first. */
  layer: number;
  /** Why it is a secret. */
  reason: string;
  /** Still visible in the merged file system. */
  present: boolean;
}

/** Secrets in every layer, by name and (for small text files) by content. */
export function findSecrets(fs: Pick<ImageFs, "layers" | "merged">): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const entries of fs.layers) {
    for (const entry of entries) {
      if (entry.type !== "file") continue;
      const byPath = secretByPath(entry.path);
      const reason = (byPath === "content" ? undefined : byPath) ?? entry.contentSecret;
      if (reason) {
        findings.push({
          path: entry.path,
          layer: entry.layer,
          reason,
          present: fs.merged.get(entry.path)?.layer === entry.layer,
        });
      }
    }
  }
  return findings;
}
