/**
 * Reads an image's layers from `docker save` (legacy and OCI layouts both list their layer
 * tars in manifest.json), so audits see every layer, deleted files included, without
 * running anything inside the image.
 */
import { docker, lastLines } from "./docker.ts";
import { fileAccess, readTar, type TarEntry } from "./tar.ts";
import {
  CONTENT_SCAN_LIMIT,
  type FsEntry,
  isBinary,
  mergeLayers,
  normalizePath,
  secretByContent,
  secretByPath,
} from "./scan.ts";

/** An image's layers, merged view and a way to read file contents. */
export interface ImageFs {
  layers: FsEntry[][];
  merged: Map<string, FsEntry>;
  /** The Dockerfile instruction that created each layer, when the history says. */
  createdBy: string[];
  readFile(entry: FsEntry, limit?: number): Promise<Uint8Array>;
  close(): void;
}

/** Saves `ref` into `dir` and indexes its layers. */
export async function loadImageFs(ref: string, dir: string): Promise<ImageFs> {
  const path = `${dir}/image.tar`;
  const saved = await docker(["save", "-o", path, ref]);
  if (saved.code !== 0) throw new Error(`docker save failed: ${lastLines(saved.stderr, 2)}`);
  const file = await Deno.open(path, { read: true });
  try {
    const source = fileAccess(file);
    const size = (await file.stat()).size;
    const outer = new Map<string, TarEntry>();
    for await (const entry of readTar(source, 0, size)) outer.set(normalizePath(entry.name), entry);
    const resolve = (name: string): TarEntry | undefined => {
      let entry = outer.get(normalizePath(name));
      for (let hops = 0; entry?.type === "symlink" && hops < 8; hops++) {
        const base = normalizePath(name).split("/").slice(0, -1).join("/");
        name = entry.linkname.startsWith("/") ? entry.linkname : `${base}/${entry.linkname}`;
        entry = outer.get(normalizePath(name));
      }
      return entry;
    };
    const manifestEntry = resolve("manifest.json");
    if (!manifestEntry) throw new Error("docker save output has no manifest.json");
    const decoder = new TextDecoder();
    const manifest = JSON.parse(
      decoder.decode(await source.readAt(manifestEntry.dataOffset, manifestEntry.size)),
    ) as { Config: string; Layers: string[] }[];
    const configEntry = resolve(manifest[0].Config);
    const config = configEntry
      ? JSON.parse(decoder.decode(await source.readAt(configEntry.dataOffset, configEntry.size)))
      : {};
    const createdBy = ((config.history ?? []) as { created_by?: string; empty_layer?: boolean }[])
      .filter((h) => !h.empty_layer)
      .map((h) => (h.created_by ?? "").replace(/^\/bin\/sh -c (#\(nop\) )?/, "").trim());

    const layers: FsEntry[][] = [];
    for (const [index, name] of manifest[0].Layers.entries()) {
      const tar = resolve(name);
      if (!tar) throw new Error(`layer ${name} is missing from docker save output`);
      const head = await source.readAt(tar.dataOffset, 2);
      if (head[0] === 0x1f && head[1] === 0x8b) {
        throw new Error(`layer ${name} is compressed; only uncompressed layers are supported`);
      }
      const entries: FsEntry[] = [];
      for await (const e of readTar(source, tar.dataOffset, tar.dataOffset + tar.size)) {
        entries.push({
          path: normalizePath(e.name),
          type: e.type,
          mode: e.mode,
          size: e.size,
          linkname: e.linkname,
          layer: index,
          dataOffset: e.dataOffset,
        });
      }
      layers.push(entries);
    }
    return {
      layers,
      merged: mergeLayers(layers),
      createdBy,
      readFile: (entry, limit = entry.size) =>
        source.readAt(entry.dataOffset ?? 0, Math.min(entry.size, limit)),
      close: () => file.close(),
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** A secret found in a layer; `present` is false when a later layer deleted it. */
export interface SecretFinding {
  path: string;
  layer: number;
  reason: string;
  present: boolean;
}

/** Looks for secrets in every layer, by name and (for small text files) by content. */
export async function findSecrets(fs: ImageFs): Promise<SecretFinding[]> {
  const findings: SecretFinding[] = [];
  const decoder = new TextDecoder();
  for (const entries of fs.layers) {
    for (const entry of entries) {
      if (entry.type !== "file") continue;
      const byPath = secretByPath(entry.path);
      let reason = byPath === "content" ? undefined : byPath;
      if (!reason && entry.size > 0 && entry.size <= CONTENT_SCAN_LIMIT) {
        const bytes = await fs.readFile(entry);
        if (!isBinary(bytes)) reason = secretByContent(entry.path, decoder.decode(bytes));
      }
      if (reason) {
        findings.push({
          path: entry.path,
          layer: entry.layer,
          reason,
          present: fs.merged.get(entry.path) === entry,
        });
      }
    }
  }
  return findings;
}
