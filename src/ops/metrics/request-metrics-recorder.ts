import { SpanKind } from '@opentelemetry/api';
import type { LogSpan } from '../../model/log-span.js';
import { peerAttributes } from '../../model/request-spans.js';
import { DEFAULT_STEP_TOLERANCE, synRetransmitStep } from '../../model/syn-retransmit.js';
import type { AccessRecord } from '../../parse/access-record.js';
import {
  CONNECT_DURATION, REQUEST_DURATION, SYN_RETRANSMIT_SUSPECTED, UPSTREAM_ATTEMPTS, UPSTREAM_RESPONSE_DURATION,
  UPSTREAM_RETRIES, instrument,
} from './instruments.js';
import type { CounterDelta, ExemplarData, HistogramDelta, MetricAttributes, MetricsDelta } from './metrics-delta.js';

/** As the span model names methods (anything else is `_OTHER`), so the series stay few. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);
/** Upstream addresses come from nginx's config, but a resolver can make many: beyond this they share one series. */
export const MAX_UPSTREAMS = 1000;
const OVERFLOW_ATTRIBUTES: MetricAttributes = { 'otel.metric.overflow': true };

/**
 * Aggregates every parsed request (kept by sampling or not) into histograms and counters, in
 * the thread that builds the spans, and hands the aggregates over as deltas (`takeDelta`).
 * This costs a few map look-ups per line; recording each measurement through the SDK's
 * instruments costs ~1 µs each, four or more per line, and workers would have to ship every
 * measurement to the one MeterProvider.
 *
 * Exemplars: a kept request's measurements remember the span the sidecar emitted for them
 * (the request's SERVER span, the attempt's CLIENT span, its `connect` span); the latest one
 * per bucket goes out with the delta. Sampled-out requests are counted but give no exemplars,
 * so an exemplar always names a trace that was exported. Slow and flagged connects are always
 * kept by the sampler, so the slow buckets always have one.
 */
export class RequestMetricsRecorder {
  private readonly all: Array<HistogramSeries | CounterSeries> = [];
  private readonly requests = new Map<string, Map<number, HistogramSeries>>();
  private readonly upstreams = new Map<string, UpstreamSeries>();
  private overflow?: UpstreamSeries;

  constructor(private readonly stepTolerance = DEFAULT_STEP_TOLERANCE) {}

  /**
   * Records one request. `spans` (from `from` on) are the spans the model appended for it,
   * when it was kept: SERVER, then CLIENT and `connect` per attempt.
   */
  record(record: AccessRecord, spans?: readonly LogSpan[], from = 0): void {
    const attempts = record.upstreams;
    const n = attempts.length;
    const own = spans !== undefined && spans.length - from === 1 + 2 * n && spans[from].kind === SpanKind.SERVER ? spans : undefined;
    if (record.requestTime >= 0) this.requestSeries(record).record(record.requestTime, own?.[from]);
    for (let i = 0; i < n; i++) {
      const attempt = attempts[i];
      const upstream = this.upstream(attempt.address);
      upstream.attempts.add(undefined);
      if (i > 0 && attempt.group === attempts[i - 1].group) this.upstream(attempts[i - 1].address).retries.add(undefined);
      if (attempt.responseTime !== undefined && attempt.responseTime >= 0) {
        upstream.response(attempt.status).record(attempt.responseTime, own?.[from + 1 + 2 * i]);
      }
      if (attempt.connectTime !== undefined && attempt.connectTime >= 0) {
        const connect = own?.[from + 2 + 2 * i];
        upstream.connect.record(attempt.connectTime, connect);
        const step = synRetransmitStep(attempt.connectTime, this.stepTolerance);
        if (step !== undefined) upstream.suspected(step).add(connect);
      }
    }
  }

  /** What was recorded since the last call (and forgets it), or undefined if nothing was. */
  takeDelta(): MetricsDelta | undefined {
    const histograms: HistogramDelta[] = [];
    const counters: CounterDelta[] = [];
    for (const series of this.all) {
      if (series instanceof HistogramSeries) {
        const delta = series.take();
        if (delta !== undefined) histograms.push(delta);
      } else {
        const delta = series.take();
        if (delta !== undefined) counters.push(delta);
      }
    }
    return histograms.length === 0 && counters.length === 0 ? undefined : { histograms, counters };
  }

  private requestSeries(record: AccessRecord): HistogramSeries {
    const method = record.method !== undefined && KNOWN_METHODS.has(record.method) ? record.method : '_OTHER';
    const status = record.status ?? 0;
    let byStatus = this.requests.get(method);
    if (byStatus === undefined) this.requests.set(method, byStatus = new Map());
    let series = byStatus.get(status);
    if (series === undefined) {
      const attributes: MetricAttributes = { 'http.request.method': method };
      if (status !== 0) attributes['http.response.status_code'] = status;
      series = this.histogram(REQUEST_DURATION, `${method} ${status}`, attributes);
      byStatus.set(status, series);
    }
    return series;
  }

  private upstream(address: string): UpstreamSeries {
    let upstream = this.upstreams.get(address);
    if (upstream !== undefined) return upstream;
    if (this.upstreams.size >= MAX_UPSTREAMS) return this.overflow ??= new UpstreamSeries(this, '\u0000overflow', OVERFLOW_ATTRIBUTES);
    upstream = new UpstreamSeries(this, address, peerAttributes(address) as MetricAttributes);
    this.upstreams.set(address, upstream);
    return upstream;
  }

  /** @internal */
  histogram(name: string, key: string, attributes: MetricAttributes): HistogramSeries {
    const series = new HistogramSeries(name, key, attributes, instrument(name).boundaries!);
    this.all.push(series);
    return series;
  }

  /** @internal */
  counter(name: string, key: string, attributes: MetricAttributes): CounterSeries {
    const series = new CounterSeries(name, key, attributes);
    this.all.push(series);
    return series;
  }
}

/** The series of one upstream server (`server.address`, `server.port`). */
class UpstreamSeries {
  readonly connect: HistogramSeries;
  readonly attempts: CounterSeries;
  readonly retries: CounterSeries;
  private readonly responses = new Map<number, HistogramSeries>();
  private readonly steps = new Map<number, CounterSeries>();

  constructor(private readonly recorder: RequestMetricsRecorder, private readonly key: string, private readonly attributes: MetricAttributes) {
    this.connect = recorder.histogram(CONNECT_DURATION, key, attributes);
    this.attempts = recorder.counter(UPSTREAM_ATTEMPTS, key, attributes);
    this.retries = recorder.counter(UPSTREAM_RETRIES, key, attributes);
  }

  response(status: number | undefined): HistogramSeries {
    const code = status ?? 0;
    let series = this.responses.get(code);
    if (series === undefined) {
      const attributes = code === 0 ? this.attributes : { ...this.attributes, 'http.response.status_code': code };
      series = this.recorder.histogram(UPSTREAM_RESPONSE_DURATION, `${this.key} ${code}`, attributes);
      this.responses.set(code, series);
    }
    return series;
  }

  suspected(step: number): CounterSeries {
    let series = this.steps.get(step);
    if (series === undefined) {
      const attributes = { ...this.attributes, 'nginx.upstream.connect.syn_retransmit_step': step };
      series = this.recorder.counter(SYN_RETRANSMIT_SUSPECTED, `${this.key} ${step}`, attributes);
      this.steps.set(step, series);
    }
    return series;
  }
}

class HistogramSeries {
  private readonly counts: number[];
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;
  /** Per bucket: the latest span-backed measurement since the last take. */
  private exemplarSpans?: Array<LogSpan | undefined>;
  private exemplarValues?: number[];

  constructor(readonly name: string, readonly key: string, readonly attributes: MetricAttributes, private readonly boundaries: readonly number[]) {
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number, span: LogSpan | undefined): void {
    const bounds = this.boundaries;
    let b = 0;
    while (b < bounds.length && value > bounds[b]) b++;
    this.counts[b]++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (span !== undefined) {
      if (this.exemplarSpans === undefined) {
        this.exemplarSpans = new Array<LogSpan | undefined>(bounds.length + 1).fill(undefined);
        this.exemplarValues = new Array<number>(bounds.length + 1).fill(0);
      }
      this.exemplarSpans[b] = span;
      this.exemplarValues![b] = value;
    }
  }

  take(): HistogramDelta | undefined {
    if (this.count === 0) return undefined;
    const delta: HistogramDelta = {
      name: this.name, key: this.key, attributes: this.attributes,
      counts: this.counts.slice(), count: this.count, sum: this.sum, min: this.min, max: this.max,
    };
    const spans = this.exemplarSpans;
    if (spans !== undefined) {
      const exemplars: Array<[number, ExemplarData]> = [];
      for (let b = 0; b < spans.length; b++) {
        const span = spans[b];
        if (span === undefined) continue;
        exemplars.push([b, exemplarOf(span, this.exemplarValues![b])]);
        spans[b] = undefined;
      }
      if (exemplars.length > 0) delta.exemplars = exemplars;
    }
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
    return delta;
  }
}

class CounterSeries {
  private value = 0;
  private exemplarSpan?: LogSpan;

  constructor(readonly name: string, readonly key: string, readonly attributes: MetricAttributes) {}

  add(span: LogSpan | undefined): void {
    this.value++;
    if (span !== undefined) this.exemplarSpan = span;
  }

  take(): CounterDelta | undefined {
    if (this.value === 0) return undefined;
    const delta: CounterDelta = { name: this.name, key: this.key, attributes: this.attributes, value: this.value };
    if (this.exemplarSpan !== undefined) delta.exemplar = exemplarOf(this.exemplarSpan, 1);
    this.value = 0;
    this.exemplarSpan = undefined;
    return delta;
  }
}

function exemplarOf(span: LogSpan, value: number): ExemplarData {
  const context = span.spanContext();
  return { value, traceId: context.traceId, spanId: context.spanId, timeMicros: span.endMicros };
}
