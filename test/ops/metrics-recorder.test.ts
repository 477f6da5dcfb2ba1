// Issue #5 §2: what the sidecar aggregates per request (in whichever thread builds spans),
// how the main thread sums the deltas, and which spans the exemplars name.
import { resourceFromAttributes } from '@opentelemetry/resources';
import { DataPointType, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { LogSpan } from '../../src/model/log-span.ts';
import { RequestSpanModel } from '../../src/model/request-spans.ts';
import { SYN_RETRANSMIT_STEPS, stepWindow, synRetransmitStep } from '../../src/model/syn-retransmit.ts';
import {
  CONNECT_DURATION, CONNECT_DURATION_BOUNDARIES, REQUEST_DURATION, SYN_RETRANSMIT_SUSPECTED, UPSTREAM_ATTEMPTS,
  UPSTREAM_RESPONSE_DURATION, UPSTREAM_RETRIES,
} from '../../src/ops/metrics/instruments.ts';
import type { MetricsDelta } from '../../src/ops/metrics/metrics-delta.ts';
import { MetricsStore, type DataPointWithExemplars } from '../../src/ops/metrics/metrics-store.ts';
import { MAX_UPSTREAMS, RequestMetricsRecorder } from '../../src/ops/metrics/request-metrics-recorder.ts';
import type { AccessRecord, UpstreamAttempt } from '../../src/parse/access-record.ts';

const model = new RequestSpanModel({ resource: resourceFromAttributes({ 'service.name': 'nginx' }), scope: { name: 'test' } });

let nextId = 0;
function record(upstreams: Partial<UpstreamAttempt>[], extra: Partial<AccessRecord> = {}): AccessRecord {
  const requestId = (++nextId).toString(16).padStart(32, 'a');
  return {
    msec: 1_795_711_260.5, requestTime: 0.02, requestId, method: 'GET', status: 200,
    upstreams: upstreams.map((u) => ({ group: 0, address: '10.0.0.1:8080', status: 200, connectTime: 0.001, headerTime: 0.01, responseTime: 0.015, ...u })),
    ...extra,
  };
}

/** As LocalProcessor does for a kept request: the model appends the spans, the recorder reads them. */
function keep(recorder: RequestMetricsRecorder, r: AccessRecord): LogSpan[] {
  const spans: LogSpan[] = [];
  model.spans(r, spans);
  recorder.record(r, spans, 0);
  return spans;
}

function find<T extends { name: string }>(list: T[], name: string): T[] {
  return list.filter((x) => x.name === name);
}

describe('RequestMetricsRecorder', () => {
  it('records request, response and connect times per series, and attempts per upstream', () => {
    const recorder = new RequestMetricsRecorder();
    keep(recorder, record([{ connectTime: 0.001, responseTime: 0.015 }]));
    keep(recorder, record([{ connectTime: 0.003, responseTime: 0.02, status: 404 }], { requestTime: 0.03, status: 404, method: 'BREW' }));
    const delta = recorder.takeDelta()!;

    const requests = find(delta.histograms, REQUEST_DURATION);
    expect(requests.map((h) => h.attributes)).toEqual([
      { 'http.request.method': 'GET', 'http.response.status_code': 200 },
      { 'http.request.method': '_OTHER', 'http.response.status_code': 404 },
    ]);
    expect(requests[0]).toMatchObject({ count: 1, sum: 0.02, min: 0.02, max: 0.02 });

    const responses = find(delta.histograms, UPSTREAM_RESPONSE_DURATION);
    expect(responses.map((h) => h.attributes)).toEqual([
      { 'server.address': '10.0.0.1', 'server.port': 8080, 'http.response.status_code': 200 },
      { 'server.address': '10.0.0.1', 'server.port': 8080, 'http.response.status_code': 404 },
    ]);
    const [connect] = find(delta.histograms, CONNECT_DURATION);
    expect(connect.attributes).toEqual({ 'server.address': '10.0.0.1', 'server.port': 8080 });
    expect(connect.count).toBe(2);
    expect(connect.counts[0]).toBe(1); // ≤ 1 ms
    expect(connect.counts[2]).toBe(1); // (2, 5] ms
    expect(find(delta.counters, UPSTREAM_ATTEMPTS)).toMatchObject([{ value: 2, attributes: { 'server.address': '10.0.0.1', 'server.port': 8080 } }]);
    expect(find(delta.counters, UPSTREAM_RETRIES)).toEqual([]);
  });

  it("gives exemplars the ids of the spans the model emitted: connect → the attempt's connect span, response → its CLIENT span, request → SERVER", () => {
    const recorder = new RequestMetricsRecorder();
    const r = record([
      { address: '10.0.0.1:8080', connectTime: undefined, status: 502, responseTime: 0.001 },
      { address: '10.0.0.2:8080', connectTime: 1.013, responseTime: 1.02 },
    ], { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', requestTime: 1.03 });
    const spans = keep(recorder, r);
    const [server, , , client2, connect2] = spans;
    expect(connect2.name).toBe('connect');
    const delta = recorder.takeDelta()!;

    const connect = find(delta.histograms, CONNECT_DURATION).find((h) => h.attributes['server.address'] === '10.0.0.2')!;
    const bucket = CONNECT_DURATION_BOUNDARIES.indexOf(1.2);
    expect(connect.counts[bucket]).toBe(1);
    expect(connect.exemplars).toEqual([[bucket, {
      value: 1.013, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: connect2.spanContext().spanId, timeMicros: connect2.endMicros,
    }]]);
    const response = find(delta.histograms, UPSTREAM_RESPONSE_DURATION).find((h) => h.attributes['server.address'] === '10.0.0.2')!;
    expect(response.exemplars![0][1].spanId).toBe(client2.spanContext().spanId);
    expect(find(delta.histograms, REQUEST_DURATION)[0].exemplars![0][1]).toMatchObject({ spanId: server.spanContext().spanId, value: 1.03 });

    const [suspected] = find(delta.counters, SYN_RETRANSMIT_SUSPECTED);
    expect(suspected.attributes).toEqual({ 'server.address': '10.0.0.2', 'server.port': 8080, 'nginx.upstream.connect.syn_retransmit_step': 1 });
    expect(suspected.value).toBe(1);
    expect(suspected.exemplar!.spanId).toBe(connect2.spanContext().spanId);
    expect(connect2.attributes['nginx.upstream.connect.syn_retransmit_step']).toBe(1);

    // The failed first try made nginx retry: counted against the server that failed.
    expect(find(delta.counters, UPSTREAM_RETRIES)).toMatchObject([{ value: 1, attributes: { 'server.address': '10.0.0.1' } }]);
    expect(find(delta.counters, UPSTREAM_ATTEMPTS).map((c) => c.value)).toEqual([1, 1]);
  });

  it('counts requests left out by sampling (no spans), without exemplars', () => {
    const recorder = new RequestMetricsRecorder();
    recorder.record(record([{ connectTime: 1.004 }]));
    const delta = recorder.takeDelta()!;
    expect(find(delta.histograms, CONNECT_DURATION)[0].count).toBe(1);
    expect(find(delta.counters, SYN_RETRANSMIT_SUSPECTED)[0].value).toBe(1);
    expect(delta.histograms.every((h) => h.exemplars === undefined)).toBe(true);
    expect(delta.counters.every((c) => c.exemplar === undefined)).toBe(true);
  });

  it('an internal redirect (a new group) is not a retry', () => {
    const recorder = new RequestMetricsRecorder();
    keep(recorder, record([{ group: 0, address: 'a:1' }, { group: 1, address: 'b:1' }]));
    expect(find(recorder.takeDelta()!.counters, UPSTREAM_RETRIES)).toEqual([]);
  });

  it('hands each measurement over once, and nothing when idle', () => {
    const recorder = new RequestMetricsRecorder();
    expect(recorder.takeDelta()).toBeUndefined();
    keep(recorder, record([{}]));
    expect(recorder.takeDelta()).toBeDefined();
    expect(recorder.takeDelta()).toBeUndefined();
  });

  it(`puts upstreams beyond ${MAX_UPSTREAMS} into one overflow series`, () => {
    const recorder = new RequestMetricsRecorder();
    for (let i = 0; i < MAX_UPSTREAMS + 5; i++) recorder.record(record([{ address: `10.1.${i >> 8}.${i & 255}:80` }]));
    const attempts = find(recorder.takeDelta()!.counters, UPSTREAM_ATTEMPTS);
    expect(attempts).toHaveLength(MAX_UPSTREAMS + 1);
    expect(attempts.at(-1)).toMatchObject({ attributes: { 'otel.metric.overflow': true }, value: 5 });
  });
});

describe('connect-time buckets', () => {
  it('give each SYN retransmission step a narrow bucket of its own holding every connect flagged for it', () => {
    const bounds = CONNECT_DURATION_BOUNDARIES;
    const bucketOf = (t: number) => {
      const i = bounds.findIndex((b) => t <= b);
      return i === -1 ? bounds.length : i;
    };
    expect([...bounds].sort((a, b) => a - b)).toEqual(bounds);
    expect(new Set(bounds).size).toBe(bounds.length);
    const buckets = new Set<number>();
    for (const step of SYN_RETRANSMIT_STEPS) {
      const bucket = bucketOf(step);
      buckets.add(bucket);
      const top = step + stepWindow(step, 0.2);
      // nginx logs milliseconds: every value flagged for this step lands in the step's bucket.
      let flagged = 0;
      for (let ms = Math.round((step - 0.006) * 1000); ms <= Math.round(top * 1000) + 1; ms++) {
        if (synRetransmitStep(ms / 1000) !== step) continue;
        flagged++;
        expect(bucketOf(ms / 1000), `${ms} ms`).toBe(bucket);
      }
      expect(flagged).toBeGreaterThan(150);
      // Narrow: 11 ms below the step, or just above its window, is another bucket.
      expect(bucketOf(step - 0.011)).not.toBe(bucket);
      expect(bucketOf(top + 0.002)).not.toBe(bucket);
    }
    expect(buckets.size).toBe(SYN_RETRANSMIT_STEPS.length);
    expect(bounds.slice(9, 12)).toEqual([0.99, 1.2, 1.99]);
  });
});

describe('MetricsStore', () => {
  const scope = { name: 'nginx-otel-sidecar', version: 'test' };

  function deltaOf(records: AccessRecord[], kept = true): MetricsDelta {
    const recorder = new RequestMetricsRecorder();
    for (const r of records) {
      if (kept) keep(recorder, r);
      else recorder.record(r);
    }
    return recorder.takeDelta()!;
  }

  it('sums the deltas of several workers into one cumulative series per attribute set', () => {
    const store = new MetricsStore(scope, 1_000_000);
    store.merge(deltaOf([record([{ connectTime: 0.001 }]), record([{ connectTime: 1.01 }])]));
    store.merge(deltaOf([record([{ connectTime: 1.02 }])], false));
    let metrics = store.collect().metrics;
    const connect = metrics.find((m) => m.descriptor.name === CONNECT_DURATION) as HistogramMetricData;
    expect(connect.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(connect.descriptor.unit).toBe('s');
    expect(connect.dataPoints).toHaveLength(1);
    const point = connect.dataPoints[0];
    expect(point.value.count).toBe(3);
    expect(point.value.buckets.counts[CONNECT_DURATION_BOUNDARIES.indexOf(1.2)]).toBe(2);
    expect(point.value.min).toBe(0.001);
    expect(point.value.max).toBe(1.02);
    expect(point.startTime).toEqual([1000, 0]);
    const suspected = metrics.find((m) => m.descriptor.name === SYN_RETRANSMIT_SUSPECTED) as SumMetricData;
    expect(suspected.isMonotonic).toBe(true);
    expect(suspected.dataPoints[0].value).toBe(2);
    expect(metrics.map((m) => m.descriptor.name)).toEqual([REQUEST_DURATION, UPSTREAM_RESPONSE_DURATION, CONNECT_DURATION, SYN_RETRANSMIT_SUSPECTED, UPSTREAM_ATTEMPTS]);

    // Exemplars go out once; the totals keep growing.
    const exemplars = (point as DataPointWithExemplars<unknown>).exemplars!;
    expect(exemplars.map((e) => e.value).sort()).toEqual([0.001, 1.01]);
    store.merge(deltaOf([record([{ connectTime: 0.002 }])], false));
    metrics = store.collect().metrics;
    const again = (metrics.find((m) => m.descriptor.name === CONNECT_DURATION) as HistogramMetricData).dataPoints[0];
    expect(again.value.count).toBe(4);
    expect((again as DataPointWithExemplars<unknown>).exemplars).toBeUndefined();
  });

  it('takes the deltas of recorders in this thread at each collect and snapshot', () => {
    const store = new MetricsStore(scope);
    const recorder = new RequestMetricsRecorder();
    store.addSource(() => recorder.takeDelta());
    expect(store.collect().metrics).toEqual([]);
    keep(recorder, record([{ connectTime: 3.05 }]));
    const snapshot = store.snapshot();
    const connect = snapshot.histograms.find((h) => h.name === CONNECT_DURATION)!;
    expect(connect.boundaries).toBe(CONNECT_DURATION_BOUNDARIES);
    expect(connect.series).toHaveLength(1);
    expect(connect.series[0]).toMatchObject({ attributes: { 'server.address': '10.0.0.1', 'server.port': 8080 }, count: 1, sum: 3.05 });
    expect(connect.series[0].exemplars).toMatchObject([{ bucket: CONNECT_DURATION_BOUNDARIES.indexOf(3.3), value: 3.05 }]);
    expect(snapshot.counters.find((c) => c.name === SYN_RETRANSMIT_SUSPECTED)!.series).toMatchObject([
      { value: 1, attributes: { 'nginx.upstream.connect.syn_retransmit_step': 3 } },
    ]);
    // The snapshot does not use up the exemplars the next OTLP export carries.
    const point = (store.collect().metrics.find((m) => m.descriptor.name === CONNECT_DURATION) as HistogramMetricData).dataPoints[0];
    expect((point as DataPointWithExemplars<unknown>).exemplars).toHaveLength(1);
  });
});
