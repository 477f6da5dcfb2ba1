/**
 * A log-scale histogram of durations for the terminal, made so that SYN-retransmission
 * steps are visible at a glance.
 *
 * Bucket edges are anchored at 1 s. Below a second, one bucket per octave (0, 1, 2, 4, 8,
 * 16, 32, 63, 125, 250, 500 ms — the body of a normal connect-time distribution). From 1 s
 * to 8 s one bucket per second, where the first retransmission steps lie close together
 * (1, 2, 3, 4, 5, 7 s linear; 1, 3, 7 s classic), so each step opens its own row; from 8 s
 * to 64 s two per octave (8, 11.3, 16, 22.6, 32, 45.3 s), then one row for ≥ 64 s.
 * Bars are proportional to log(count), so a cluster of 1 % still shows beside the bulk;
 * the counts are printed too. Runs of empty rows between filled ones collapse to `⋮`.
 */
import { formatCount, formatPercent } from './format.js';
import type { MsHistogram } from './ms-histogram.js';

interface Bucket {
  /** Inclusive lower bound, ms. */
  from: number;
  /** Exclusive upper bound, ms (Infinity for the last). */
  to: number;
  label: string;
}

/** The bucket layout described above. */
export const BUCKETS: readonly Bucket[] = makeBuckets();

function makeBuckets(): Bucket[] {
  // Octaves below 1 s, as integer ms (nginx's resolution): 1, 2, 4, 8, 16, 32, 63, 125, 250, 500.
  const sub = [1, 2, 4, 8, 16, 32, 63, 125, 250, 500];
  const above = [1000, 2000, 3000, 4000, 5000, 6000, 7000];
  for (let k = 6; k <= 12; k++) above.push(Math.round(1000 * 2 ** (k / 2)));
  const all = [0, ...sub, ...above]; // 0, 1 … 500, 1000, 2000 … 7000, 8000, 11314 … 64000
  const buckets: Bucket[] = [];
  for (let i = 0; i < all.length; i++) {
    const from = all[i];
    const to = i + 1 < all.length ? all[i + 1] : Number.POSITIVE_INFINITY;
    buckets.push({ from, to, label: bucketLabel(from, to) });
  }
  return buckets;
}

function edgeText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 2 : 1)} s`;
}

function bucketLabel(from: number, to: number): string {
  if (from === 0) return '0 ms';
  if (to === Number.POSITIVE_INFINITY) return `≥ ${edgeText(from)}`;
  if (to === from + 1) return edgeText(from);
  const a = edgeText(from);
  const b = edgeText(to);
  // "2–4 ms", "500 ms–1 s", "1–2 s", "8–11.3 s"
  return a.endsWith(' ms') && b.endsWith(' ms') ? `${a.slice(0, -3)}–${b}` : a.endsWith(' s') && b.endsWith(' s') ? `${a.slice(0, -2)}–${b}` : `${a}–${b}`;
}

export interface HistogramMark {
  /** A time (seconds) whose row gets the note. */
  at: number;
  note: string;
}

/** Renders `hist` as lines of text (without trailing newline on the last). */
export function renderHistogram(hist: MsHistogram, options: { width?: number; marks?: HistogramMark[]; indent?: string } = {}): string[] {
  const width = options.width ?? 40;
  const indent = options.indent ?? '  ';
  const counts = BUCKETS.map(() => 0);
  hist.forEach((ms, n) => {
    counts[bucketIndex(ms)] += n;
  });
  const first = counts.findIndex((c) => c > 0);
  if (first === -1) return [`${indent}(no values)`];
  let last = counts.length - 1;
  while (counts[last] === 0) last--;
  const max = Math.max(...counts);
  const total = hist.count;
  const notes = new Map<number, string[]>();
  for (const mark of options.marks ?? []) {
    const i = bucketIndex(Math.round(mark.at * 1000));
    notes.set(i, [...(notes.get(i) ?? []), mark.note]);
  }
  const labelWidth = Math.max(...BUCKETS.slice(first, last + 1).map((b) => b.label.length));
  const countWidth = formatCount(max).length;
  const lines: string[] = [];
  for (let i = first; i <= last; i++) {
    const c = counts[i];
    if (c === 0 && counts[i - 1] === 0 && i > first) continue; // part of a collapsed run
    if (c === 0 && i + 1 <= last && counts[i + 1] === 0) {
      lines.push(`${indent}${' '.repeat(labelWidth - 1)}⋮ │`);
      continue;
    }
    const len = c === 0 ? 0 : Math.max(1, Math.round((width * Math.log1p(c)) / Math.log1p(max)));
    const bar = '█'.repeat(len).padEnd(width);
    const count = c === 0 ? '' : `${formatCount(c).padStart(countWidth)} ${`(${formatPercent(c / total)})`.padEnd(9)}`;
    const note = notes.has(i) && c > 0 ? ` ◀ ${notes.get(i)!.join('; ')}` : '';
    lines.push(`${indent}${BUCKETS[i].label.padStart(labelWidth)} │${bar} ${count}${note}`.trimEnd());
  }
  return lines;
}

function bucketIndex(ms: number): number {
  // Few buckets: a linear scan from the top is fast enough for ~30 entries per distinct value.
  for (let i = BUCKETS.length - 1; i >= 0; i--) if (ms >= BUCKETS[i].from) return i;
  return 0;
}
