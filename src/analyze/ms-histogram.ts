/**
 * An exact counting histogram of durations at millisecond resolution.
 *
 * nginx logs every time it has ($request_time, $upstream_*_time) with millisecond
 * resolution, so counting each millisecond value loses nothing: quantiles are exact
 * (nearest rank), histograms merge and subtract exactly, and memory is bounded by the
 * largest value seen rather than by the number of lines. Values below DENSE_LIMIT_MS
 * live in a growable Uint32Array (most upstream times are far below a second, so the
 * array stays small); rarer, longer values go to a Map. Durations with a finer
 * resolution (other log sources) are rounded to the nearest millisecond. Memory per
 * histogram: at most 64 KiB dense, plus one Map entry per distinct value above 16 s.
 */
const DENSE_LIMIT_MS = 1 << 14; // ≈16 s: at most 64 KiB per histogram
const INITIAL_DENSE = 256;

export class MsHistogram {
  private dense = new Uint32Array(INITIAL_DENSE);
  private sparse: Map<number, number> | undefined;
  /** Number of values added. */
  count = 0;
  /** Largest value in ms (-1 when empty). */
  maxMs = -1;

  /** Adds a duration given in seconds. */
  add(seconds: number): void {
    this.addMs(Math.round(seconds * 1000), 1);
  }

  addMs(ms: number, n = 1): void {
    if (n <= 0) return;
    if (ms < 0) ms = 0;
    if (ms < DENSE_LIMIT_MS) {
      let dense = this.dense;
      if (ms >= dense.length) {
        let size = dense.length;
        while (size <= ms) size *= 2;
        const grown = new Uint32Array(Math.min(size, DENSE_LIMIT_MS));
        grown.set(dense);
        this.dense = dense = grown;
      }
      dense[ms] += n;
    } else {
      const sparse = (this.sparse ??= new Map());
      sparse.set(ms, (sparse.get(ms) ?? 0) + n);
    }
    this.count += n;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Calls `fn` for every millisecond value present, ascending, with its count. */
  forEach(fn: (ms: number, n: number) => void): void {
    const dense = this.dense;
    const end = Math.min(dense.length, this.maxMs + 1);
    for (let ms = 0; ms < end; ms++) {
      const n = dense[ms];
      if (n !== 0) fn(ms, n);
    }
    if (this.sparse !== undefined) {
      for (const ms of [...this.sparse.keys()].sort((a, b) => a - b)) fn(ms, this.sparse.get(ms)!);
    }
  }

  /** Adds every value of `other` to this histogram. */
  merge(other: MsHistogram): this {
    other.forEach((ms, n) => this.addMs(ms, n));
    return this;
  }

  /** A new histogram: this one's values minus `other`'s (which must be a subset of them). */
  minus(other: MsHistogram): MsHistogram {
    const result = new MsHistogram();
    const remove = new Map<number, number>();
    other.forEach((ms, n) => remove.set(ms, n));
    this.forEach((ms, n) => result.addMs(ms, n - (remove.get(ms) ?? 0)));
    return result;
  }

  /**
   * Nearest-rank quantiles, in seconds, for ascending `qs` (0 < q ≤ 1): the smallest value
   * such that at least ⌈q·count⌉ values are ≤ it. Undefined when the histogram is empty.
   */
  quantiles(qs: readonly number[]): Array<number | undefined> {
    const result: Array<number | undefined> = qs.map(() => undefined);
    if (this.count === 0) return result;
    const ranks = qs.map((q) => Math.max(1, Math.ceil(q * this.count)));
    let i = 0;
    let seen = 0;
    this.forEach((ms, n) => {
      seen += n;
      while (i < ranks.length && seen >= ranks[i]) result[i++] = ms / 1000;
    });
    return result;
  }

  quantile(q: number): number | undefined {
    return this.quantiles([q])[0];
  }

  /** Largest value in seconds, undefined when empty. */
  get max(): number | undefined {
    return this.maxMs < 0 ? undefined : this.maxMs / 1000;
  }

  /** How many values lie in [fromMs, toMs) (ms bounds). */
  countBetweenMs(fromMs: number, toMs: number): number {
    let total = 0;
    this.forEach((ms, n) => {
      if (ms >= fromMs && ms < toMs) total += n;
    });
    return total;
  }

  /** How many values are ≥ `seconds`. */
  countAtOrAbove(seconds: number): number {
    return this.countBetweenMs(Math.round(seconds * 1000), Number.POSITIVE_INFINITY);
  }
}
