/**
 * Figures for people and budgets from flags: bytes and durations.
 *
 * @module
 */

/**
 * Bytes per unit, by lower-case name: decimal (kB, MB...: powers of 1000, as `docker images`
 * prints them), binary (KiB, MiB...: `docker stats`), and binary without the B (Ki, Mi...: the
 * Kubernetes quantities of memory limits). The one table of the project.
 */
export const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
};

/**
 * Reads a size such as `150MB`, `1.5GiB`, `12.5MiB`, `128Mi` or `4096` (bytes) as bytes, or
 * `undefined` when it is not one.
 *
 * @example
 * ```ts
 * sizeInBytes("128Mi"); // 134_217_728
 * sizeInBytes("12 parsecs"); // undefined
 * ```
 */
export function sizeInBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? BYTE_UNITS[(match[2] || "b").toLowerCase()] : undefined;
  return match && factor !== undefined ? Math.round(Number(match[1]) * factor) : undefined;
}

/**
 * Parses a size such as `150MB`, `1.5GiB`, `12.5MiB` or `4096` (bytes) into bytes; throws
 * one line naming the units for anything else (a budget from a flag or a config).
 *
 * @example
 * ```ts
 * parseSize("150MB"); // 150_000_000
 * ```
 */
export function parseSize(text: string): number {
  const bytes = sizeInBytes(text);
  if (bytes === undefined) {
    throw new Error(
      `Invalid size "${text}": use a number with an optional unit B, kB, MB, GB, KiB, MiB or GiB`,
    );
  }
  return bytes;
}

/**
 * Formats bytes in decimal units with three significant digits.
 *
 * @example
 * ```ts
 * formatBytes(152_400_000); // "152 MB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toPrecision(3)} ${units[unit]}`;
}

/**
 * Formats milliseconds as `850 ms` or `12.3 s`.
 *
 * @example
 * ```ts
 * formatMs(12_345); // "12.3 s"
 * ```
 */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
