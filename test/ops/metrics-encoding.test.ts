// The hand-written OTLP metrics encoders (protobuf and JSON) against the SDK's serializers
// and the OTLP proto (decoded with protobufjs): the same bytes' meaning, plus exemplars.
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { LogSpan } from '../../src/model/log-span.ts';
import { RequestSpanModel } from '../../src/model/request-spans.ts';
import { CONNECT_DURATION, SYN_RETRANSMIT_SUSPECTED } from '../../src/ops/metrics/instruments.ts';
import { MetricsStore } from '../../src/ops/metrics/metrics-store.ts';
import { encodeMetricsRequestJson } from '../../src/ops/metrics/otlp-metrics-json.ts';
import { encodeMetricsRequest } from '../../src/ops/metrics/otlp-metrics-protobuf.ts';
import { RequestMetricsRecorder } from '../../src/ops/metrics/request-metrics-recorder.ts';
import type { AccessRecord } from '../../src/parse/access-record.ts';
import { decodeMetricsRequest, type ReceivedPoint } from '../support/otlp-metrics-receiver.ts';

const resource = resourceFromAttributes({ 'service.name': 'nginx', 'host.name': 'edge-1', 'process.pid': 4242 });

class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** SDK instruments of every kind the encoder supports, with awkward values. */
async function sdkMetrics(): Promise<ResourceMetrics> {
  const reader = new TestReader();
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter('sdk-scope', '1.2.3');
  const attributes = { s: 'é ✓', b: true, i: -7, d: 0.25, list: ['a', 'b'], big: 2 ** 40 };
  meter.createCounter('c', { unit: '{x}', description: 'a counter' }).add(5, attributes);
  meter.createCounter('cd', { valueType: 1 }).add(2.5);
  meter.createUpDownCounter('u').add(-3, { k: 'v' });
  meter.createGauge('g').record(-1.5e-9);
  const h = meter.createHistogram('h', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1, 10] } });
  for (const v of [0.05, 0.5, 5, 50, 500]) h.record(v, { k: 'v' });
  return (await reader.collect()).resourceMetrics;
}

function withoutExemplars(points: ReceivedPoint[]): ReceivedPoint[] {
  return points.map((p) => ({ ...p, exemplars: [] }));
}

/** The sidecar's own data, with exemplars. */
function sidecarMetrics(): { metrics: ResourceMetrics; connect: LogSpan } {
  const model = new RequestSpanModel({ resource, scope: { name: 'test' } });
  const recorder = new RequestMetricsRecorder();
  const record: AccessRecord = {
    msec: 1_795_711_260.5, requestTime: 1.03, requestId: '0123456789abcdef0123456789abcdef', method: 'GET', status: 200,
    upstreams: [{ group: 0, address: '10.0.0.2:8080', status: 200, connectTime: 1.013, headerTime: 1.02, responseTime: 1.02 }],
  };
  const spans: LogSpan[] = [];
  model.spans(record, spans);
  recorder.record(record, spans, 0);
  const store = new MetricsStore({ name: 'nginx-otel-sidecar', version: '0.1.0' }, 1_700_000_000_123);
  store.merge(recorder.takeDelta()!);
  return { metrics: { resource, scopeMetrics: [store.collect()] }, connect: spans[2] };
}

describe('OTLP metrics encoding', () => {
  it('protobuf: means what the SDK serializer writes, for every kind of SDK metric', async () => {
    const metrics = await sdkMetrics();
    const ours = decodeMetricsRequest(encodeMetricsRequest(metrics));
    const sdk = decodeMetricsRequest(ProtobufMetricsSerializer.serializeRequest(metrics)!);
    expect(ours).toEqual(sdk);
    expect(ours.map((p) => p.metric)).toEqual(['c', 'cd', 'u', 'g', 'h']);
    expect(ours[0]).toMatchObject({ value: 5, unit: '{x}', description: 'a counter', monotonic: true, temporality: 2, scope: 'sdk-scope' });
    expect(ours[0].attributes).toEqual({ s: 'é ✓', b: true, i: -7, d: 0.25, list: ['a', 'b'], big: 2 ** 40 });
    expect(ours[2].value).toBe(-3);
    expect(ours[4]).toMatchObject({ count: 5, sum: 555.55, min: 0.05, max: 500, bucketCounts: [1, 1, 1, 2], explicitBounds: [0.1, 1, 10] });
    expect(ours[0].resource).toEqual({ 'service.name': 'nginx', 'host.name': 'edge-1', 'process.pid': 4242 });
  });

  it('JSON: means what the SDK JSON serializer writes', async () => {
    const metrics = await sdkMetrics();
    const ours = decodeMetricsRequest(encodeMetricsRequestJson(metrics), 'application/json');
    const sdk = decodeMetricsRequest(JsonMetricsSerializer.serializeRequest(metrics)!, 'application/json');
    expect(ours).toEqual(sdk);
    expect(ours).toEqual(decodeMetricsRequest(encodeMetricsRequest(metrics)));
  });

  it('writes the exemplars the SDK cannot: trace and span ids of the emitted span, value and time', () => {
    const { metrics, connect } = sidecarMetrics();
    const bytes = encodeMetricsRequest(metrics);
    const points = decodeMetricsRequest(bytes);
    // Without exemplars the SDK writes the same.
    expect(withoutExemplars(points)).toEqual(withoutExemplars(decodeMetricsRequest(ProtobufMetricsSerializer.serializeRequest(metrics)!)));

    const histogram = points.find((p) => p.metric === CONNECT_DURATION)!;
    expect(histogram).toMatchObject({ type: 'histogram', unit: 's', temporality: 2, count: 1, attributes: { 'server.address': '10.0.0.2', 'server.port': 8080 } });
    expect(histogram.startNs).toBe(1_700_000_000_123_000_000n);
    expect(histogram.exemplars).toEqual([{
      traceId: '0123456789abcdef0123456789abcdef',
      spanId: connect.spanContext().spanId,
      value: 1.013,
      timeNs: BigInt(connect.endMicros) * 1000n,
    }]);
    const counter = points.find((p) => p.metric === SYN_RETRANSMIT_SUSPECTED)!;
    expect(counter).toMatchObject({ type: 'sum', value: 1, monotonic: true });
    expect(counter.exemplars).toMatchObject([{ spanId: connect.spanContext().spanId, value: 1 }]);

    // JSON carries the same.
    expect(decodeMetricsRequest(encodeMetricsRequestJson(metrics), 'application/json')).toEqual(points);
  });
});
