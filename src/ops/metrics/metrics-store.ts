import { ValueType, type HrTime } from '@opentelemetry/api';
import { hrTime, millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, type DataPoint, type Histogram, type MetricData, type ScopeMetrics } from '@opentelemetry/sdk-metrics';
import { INSTRUMENTS, type InstrumentDefinition } from './instruments.js';
import type { CounterDelta, ExemplarData, HistogramDelta, MetricAttributes, MetricsDelta } from './metrics-delta.js';

/** A data point as the SDK shapes it, plus the exemplars the SDK (3.1) has no place for. */
export type DataPointWithExemplars<T> = DataPoint<T> & { exemplars?: readonly ExemplarData[] };

/** The current value of every series, in a simple form (for a Prometheus /metrics page). */
export interface MetricsSnapshot {
  /** When the cumulative totals started (ms since the epoch). */
  startedAt: number;
  histograms: Array<{
    name: string;
    description: string;
    unit: string;
    boundaries: readonly number[];
    series: Array<{
      attributes: MetricAttributes;
      /** Per bucket (boundaries.length + 1 entries), not cumulative. */
      counts: number[];
      count: number;
      sum: number;
      min: number;
      max: number;
      /** The latest exemplar of each bucket that has one. */
      exemplars: Array<ExemplarData & { bucket: number }>;
    }>;
  }>;
  counters: Array<{
    name: string;
    description: string;
    unit: string;
    series: Array<{ attributes: MetricAttributes; value: number; exemplar?: ExemplarData }>;
  }>;
}

interface StoredHistogram {
  attributes: MetricAttributes;
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  exemplars: Array<StoredExemplar | undefined>;
}

interface StoredCounter {
  attributes: MetricAttributes;
  value: number;
  exemplar?: StoredExemplar;
}

/** `round`: the collection the exemplar arrived in; each goes out with one OTLP export. */
type StoredExemplar = ExemplarData & { round: number };

/**
 * The main thread's totals: deltas from every span-building thread are summed here into one
 * cumulative stream per series, so there is one MeterProvider and one start time however many
 * workers there are. `collect` shapes them as the SDK's ScopeMetrics (it is the reader's
 * MetricProducer); `snapshot` gives them plainly.
 */
export class MetricsStore {
  private readonly histograms = new Map<string, Map<string, StoredHistogram>>();
  private readonly counters = new Map<string, Map<string, StoredCounter>>();
  private readonly sources: Array<() => MetricsDelta | undefined> = [];
  private readonly startTime: HrTime;
  private round = 0;

  constructor(private readonly scope: InstrumentationScope, private readonly startedAt = Date.now()) {
    this.startTime = millisToHrTime(startedAt);
  }

  /** A recorder in this thread: its deltas are taken before each collect or snapshot. */
  addSource(take: () => MetricsDelta | undefined): void {
    this.sources.push(take);
  }

  merge(delta: MetricsDelta): void {
    for (const h of delta.histograms) this.mergeHistogram(h);
    for (const c of delta.counters) this.mergeCounter(c);
  }

  /**
   * Cumulative data points of every series seen so far. Exemplars that arrived since the
   * previous collect go with them (and only then: a trace is linked once, from the export
   * covering the moment it was measured).
   */
  collect(): ScopeMetrics {
    this.pullSources();
    const endTime = hrTime();
    const round = this.round++;
    const metrics: MetricData[] = [];
    for (const definition of INSTRUMENTS) {
      if (definition.kind === 'histogram') {
        const series = this.histograms.get(definition.name);
        if (series !== undefined && series.size > 0) metrics.push(this.histogramData(definition, series, endTime, round));
      } else {
        const series = this.counters.get(definition.name);
        if (series !== undefined && series.size > 0) metrics.push(this.counterData(definition, series, endTime, round));
      }
    }
    return { scope: this.scope, metrics };
  }

  snapshot(): MetricsSnapshot {
    this.pullSources();
    const snapshot: MetricsSnapshot = { startedAt: this.startedAt, histograms: [], counters: [] };
    for (const definition of INSTRUMENTS) {
      const { name, description, unit } = definition;
      if (definition.kind === 'histogram') {
        const stored = [...(this.histograms.get(name)?.values() ?? [])];
        snapshot.histograms.push({
          name, description, unit, boundaries: definition.boundaries!,
          series: stored.map((h) => ({
            attributes: h.attributes, counts: h.counts.slice(), count: h.count, sum: h.sum, min: h.min, max: h.max,
            exemplars: h.exemplars.flatMap((e, bucket) => (e === undefined ? [] : [{ ...plain(e), bucket }])),
          })),
        });
      } else {
        const stored = [...(this.counters.get(name)?.values() ?? [])];
        snapshot.counters.push({
          name, description, unit,
          series: stored.map((c) => ({ attributes: c.attributes, value: c.value, ...(c.exemplar ? { exemplar: plain(c.exemplar) } : {}) })),
        });
      }
    }
    return snapshot;
  }

  private pullSources(): void {
    for (const take of this.sources) {
      const delta = take();
      if (delta !== undefined) this.merge(delta);
    }
  }

  private mergeHistogram(delta: HistogramDelta): void {
    let series = this.histograms.get(delta.name);
    if (series === undefined) this.histograms.set(delta.name, series = new Map());
    let stored = series.get(delta.key);
    if (stored === undefined) {
      stored = {
        attributes: delta.attributes, counts: new Array<number>(delta.counts.length).fill(0),
        count: 0, sum: 0, min: Infinity, max: -Infinity, exemplars: [],
      };
      series.set(delta.key, stored);
    }
    for (let b = 0; b < delta.counts.length; b++) stored.counts[b] += delta.counts[b];
    stored.count += delta.count;
    stored.sum += delta.sum;
    stored.min = Math.min(stored.min, delta.min);
    stored.max = Math.max(stored.max, delta.max);
    for (const [bucket, exemplar] of delta.exemplars ?? []) {
      stored.exemplars[bucket] = newer(stored.exemplars[bucket], exemplar, this.round);
    }
  }

  private mergeCounter(delta: CounterDelta): void {
    let series = this.counters.get(delta.name);
    if (series === undefined) this.counters.set(delta.name, series = new Map());
    let stored = series.get(delta.key);
    if (stored === undefined) series.set(delta.key, stored = { attributes: delta.attributes, value: 0 });
    stored.value += delta.value;
    if (delta.exemplar !== undefined) stored.exemplar = newer(stored.exemplar, delta.exemplar, this.round);
  }

  private histogramData(definition: InstrumentDefinition, series: Map<string, StoredHistogram>, endTime: HrTime, round: number): MetricData {
    const boundaries = definition.boundaries!.slice();
    const dataPoints: Array<DataPointWithExemplars<Histogram>> = [];
    for (const h of series.values()) {
      const exemplars = h.exemplars.filter((e): e is StoredExemplar => e !== undefined && e.round === round).map(plain);
      dataPoints.push({
        startTime: this.startTime, endTime, attributes: h.attributes,
        value: { buckets: { boundaries, counts: h.counts.slice() }, count: h.count, sum: h.sum, min: h.min, max: h.max },
        ...(exemplars.length > 0 ? { exemplars } : {}),
      });
    }
    return {
      descriptor: { name: definition.name, description: definition.description, unit: definition.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }

  private counterData(definition: InstrumentDefinition, series: Map<string, StoredCounter>, endTime: HrTime, round: number): MetricData {
    const dataPoints: Array<DataPointWithExemplars<number>> = [];
    for (const c of series.values()) {
      const exemplar = c.exemplar !== undefined && c.exemplar.round === round ? [plain(c.exemplar)] : undefined;
      dataPoints.push({ startTime: this.startTime, endTime, attributes: c.attributes, value: c.value, ...(exemplar ? { exemplars: exemplar } : {}) });
    }
    return {
      descriptor: { name: definition.name, description: definition.description, unit: definition.unit, valueType: ValueType.INT },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints,
    };
  }
}

/** Workers report in any order: keep the later measurement (log time). */
function newer(current: StoredExemplar | undefined, next: ExemplarData, round: number): StoredExemplar {
  if (current !== undefined && current.round === round && current.timeMicros > next.timeMicros) return current;
  return { ...next, round };
}

function plain(e: ExemplarData): ExemplarData {
  return { value: e.value, traceId: e.traceId, spanId: e.spanId, timeMicros: e.timeMicros };
}
