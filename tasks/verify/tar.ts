/**
 * A minimal, random-access tar reader (ustar, GNU long names, PAX paths). `docker save`
 * writes a tar of layer tars; reading by offset lets verify walk every layer of a
 * 150 MB image without holding it in memory.
 */

/** One tar member. `dataOffset` is where its content starts in the file. */
export interface TarEntry {
  name: string;
  /** "file" | "dir" | "symlink" | "hardlink" | other typeflag characters. */
  type: string;
  mode: number;
  size: number;
  linkname: string;
  dataOffset: number;
}

/** What the reader needs from a file: read `length` bytes at `offset`. */
export interface RandomAccess {
  readAt(offset: number, length: number): Promise<Uint8Array>;
}

/** Wraps an open Deno file for {@linkcode readTar}. */
export function fileAccess(file: Deno.FsFile): RandomAccess {
  return {
    async readAt(offset, length) {
      const buffer = new Uint8Array(length);
      await file.seek(offset, Deno.SeekMode.Start);
      let read = 0;
      while (read < length) {
        const n = await file.read(buffer.subarray(read));
        if (n === null) break;
        read += n;
      }
      return buffer.subarray(0, read);
    },
  };
}

/** Wraps bytes in memory (tests, small nested archives). */
export function bytesAccess(bytes: Uint8Array): RandomAccess {
  return { readAt: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)) };
}

const decoder = new TextDecoder();

function text(block: Uint8Array, start: number, length: number): string {
  const slice = block.subarray(start, start + length);
  const nul = slice.indexOf(0);
  return decoder.decode(nul >= 0 ? slice.subarray(0, nul) : slice);
}

function octal(block: Uint8Array, start: number, length: number): number {
  if (block[start] & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i];
    return value;
  }
  const value = text(block, start, length).trim();
  return value === "" ? 0 : parseInt(value, 8);
}

const TYPES: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "5": "dir",
};

function parsePax(data: Uint8Array): Record<string, string> {
  // records are "<length> <key>=<value>\n" where length counts bytes, not characters
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (space < 0 || !(length > 0)) break;
    const line = decoder.decode(data.subarray(space + 1, at + length - 1));
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    at += length;
  }
  return out;
}

/**
 * Yields the members of the tar stored between `start` and `end` in `source`.
 *
 * @example for await (const e of readTar(fileAccess(file), 0, size)) console.log(e.name)
 */
export async function* readTar(
  source: RandomAccess,
  start: number,
  end: number,
): AsyncGenerator<TarEntry> {
  let offset = start;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + 512 <= end) {
    const header = await source.readAt(offset, 512);
    if (header.length < 512 || header.every((b) => b === 0)) return;
    const size = octal(header, 124, 12);
    const typeflag = String.fromCharCode(header[156]);
    const dataOffset = offset + 512;
    offset = dataOffset + Math.ceil(size / 512) * 512;
    if (typeflag === "L" || typeflag === "K" || typeflag === "x") {
      const data = await source.readAt(dataOffset, size);
      if (typeflag === "L") longName = text(data, 0, size);
      else if (typeflag === "K") longLink = text(data, 0, size);
      else pax = parsePax(data);
      continue;
    }
    if (typeflag === "g") continue;
    const prefix = text(header, 257, 6).startsWith("ustar") ? text(header, 345, 155) : "";
    const shortName = text(header, 0, 100);
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
    const linkname = pax.linkpath ?? longLink ?? text(header, 157, 100);
    const entrySize = pax.size !== undefined ? Number(pax.size) : size;
    if (pax.size !== undefined) offset = dataOffset + Math.ceil(entrySize / 512) * 512;
    longName = longLink = undefined;
    pax = {};
    yield {
      name,
      type: TYPES[typeflag] ?? typeflag,
      mode: octal(header, 100, 8),
      size: entrySize,
      linkname,
      dataOffset,
    };
  }
}
