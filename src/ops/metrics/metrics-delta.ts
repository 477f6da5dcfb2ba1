/**
 * What a thread that builds spans hands to the thread that exports metrics: its aggregates
 * since the last hand-over (deltas), small enough to post every 250 ms with the stats.
 * Plain data (structured-clone safe).
 */

export type MetricAttributes = Record<string, string | number | boolean>;

/** One measurement kept as an example, with the span the sidecar emitted for it. */
export interface ExemplarData {
  value: number;
  /** Hex, as in the exported span. */
  traceId: string;
  spanId: string;
  /** When the measured thing ended (from the log line), µs since the epoch. */
  timeMicros: number;
}

export interface HistogramDelta {
  /** Instrument name (see instruments.ts). */
  name: string;
  /** The series within the instrument; the same attributes give the same key in every thread. */
  key: string;
  attributes: MetricAttributes;
  /** Per bucket, not cumulative: boundaries.length + 1 entries. */
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  /** [bucket index, the latest measurement in that bucket that has a span]. */
  exemplars?: Array<[number, ExemplarData]>;
}

export interface CounterDelta {
  name: string;
  key: string;
  attributes: MetricAttributes;
  value: number;
  exemplar?: ExemplarData;
}

export interface MetricsDelta {
  histograms: HistogramDelta[];
  counters: CounterDelta[];
}
