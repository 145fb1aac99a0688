// The benchmark's arithmetic and number format, shared by its parts (bin/bench*.ts).

/** The q-quantile of `values` (nearest rank, as every figure of the benchmark is taken); NaN when there are none. */
export const quantile = (values: readonly number[], q: number): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;

/** A figure right-aligned in its column. */
export const fmt = (n: number, digits = 1, width = 7) => n.toFixed(digits).padStart(width);
