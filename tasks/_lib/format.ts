/**
 * Figures for people and budgets from flags: bytes and durations.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parses a size such as `150MB`, `1.5GiB`, `12.5MiB` or `4096` (bytes) into bytes.
 * Decimal units (kB, MB, GB) are powers of 1000 as `docker images` prints them.
 *
 * @example
 * ```ts
 * parseSize("150MB"); // 150_000_000
 * ```
 */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? UNITS[(match[2] || "b").toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new Error(
      `Invalid size "${text}": use a number with an optional unit B, kB, MB, GB, KiB, MiB or GiB`,
    );
  }
  return Math.round(Number(match[1]) * factor);
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
