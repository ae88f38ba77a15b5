/**
 * Small statistics for the bench: medians of repeated rounds and paired ratios.
 *
 * @module
 */

/** The median of `values`; `NaN` when there are none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `value / reference`, or `NaN` when the reference is not a positive number. */
export function ratio(value: number, reference: number): number {
  return reference > 0 && Number.isFinite(value) ? value / reference : NaN;
}

/**
 * The median of the per-round ratios `values[i] / references[i]`. Pairing each round with the
 * baseline measured next to it cancels the drift of a noisy machine better than a ratio of
 * medians does.
 */
export function pairedRatio(values: readonly number[], references: readonly number[]): number {
  if (values.length !== references.length) {
    throw new Error(
      `Cannot pair ${values.length} rounds with ${references.length} baseline rounds`,
    );
  }
  return median(values.map((value, index) => ratio(value, references[index])));
}

/** Growth from `before` to `after`, in percent. */
export function growthPercent(before: number, after: number): number {
  return before > 0 ? ((after - before) / before) * 100 : NaN;
}
