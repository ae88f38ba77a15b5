/**
 * Entity tags from content, computed synchronously at start-up. Written here rather than with
 * `crypto.subtle` (asynchronous) or `node:crypto` (which loads Deno's Node compatibility layer:
 * measured, about 20 ms of start-up): an ETag only has to change when the bytes do, so two
 * 32-bit FNV-1a hashes and the length are plenty for a folder of page assets.
 *
 * @module
 */

/**
 * A strong ETag for `data`, such as `"1k3-5m0dwk1f9hw3z"`.
 *
 * @example
 * ```ts
 * contentTag(new TextEncoder().encode("body{}")); // the same input always gives the same tag
 * ```
 */
export function contentTag(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let forward = 0x811c9dc5;
  let backward = 0x811c9dc5;
  for (let i = 0, j = bytes.length - 1; i < bytes.length; i++, j--) {
    forward = Math.imul(forward ^ bytes[i], 0x01000193);
    backward = Math.imul(backward ^ bytes[j], 0x01000193);
  }
  const hash = (forward >>> 0).toString(36) + (backward >>> 0).toString(36).padStart(7, "0");
  return `"${bytes.length.toString(36)}-${hash}"`;
}
