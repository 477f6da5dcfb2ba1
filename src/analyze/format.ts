/** Number and duration formatting shared by the analyze reports. */

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `65500` → `65,500`. */
export function formatCount(n: number): string {
  return INTEGER.format(n);
}

/** A share as a percentage: `0.0172` → `1.7 %`; tiny non-zero shares keep two significant digits. */
export function formatPercent(share: number): string {
  const pct = share * 100;
  if (pct === 0) return '0 %';
  if (pct >= 10) return `${pct.toFixed(0)} %`;
  if (pct >= 0.1) return `${pct.toFixed(1)} %`;
  return `${pct.toPrecision(2)} %`;
}

/** Seconds as `0 ms`, `12 ms`, `1.03 s`, `35.6 s`; `-` when undefined. */
export function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 100) return `${seconds.toFixed(1)} s`;
  return `${Math.round(seconds)} s`;
}

/** A step in seconds for prose: `1` → `≈1 s`. */
export function formatStep(step: number): string {
  return `≈${step} s`;
}
