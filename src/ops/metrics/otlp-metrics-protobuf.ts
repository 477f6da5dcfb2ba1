import { ValueType, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import { DataPointType, type DataPoint, type Histogram, type MetricData, type ResourceMetrics, type ScopeMetrics } from '@opentelemetry/sdk-metrics';
import type { ExemplarData } from './metrics-delta.js';
import type { DataPointWithExemplars } from './metrics-store.js';
import { ProtobufWriter } from './protobuf-writer.js';

/**
 * An OTLP ExportMetricsServiceRequest (opentelemetry/proto/metrics/v1, field numbers as
 * there) with exemplars. Why not the SDK's ProtobufMetricsSerializer: sdk-metrics 3.1 has no
 * exemplars (no reservoir, no field on DataPoint) and otlp-transformer 0.301 never writes
 * field 8/5 of a data point, so exemplars recorded by the sidecar itself (on
 * DataPointWithExemplars) must be written by an encoder that knows them. Gauges, sums and
 * explicit-bucket histograms are supported: what the sidecar and any SDK instrument with
 * default aggregation produce.
 */
export function encodeMetricsRequest(request: ResourceMetrics): Uint8Array {
  const writer = new ProtobufWriter();
  writer.message(1, (rm) => {
    rm.message(1, (resource) => writeAttributes(resource, 1, request.resource.attributes));
    for (const scopeMetrics of request.scopeMetrics) rm.message(2, (sm) => writeScopeMetrics(sm, scopeMetrics));
    if (request.resource.schemaUrl) rm.string(3, request.resource.schemaUrl);
  });
  return writer.finish();
}

function writeScopeMetrics(w: ProtobufWriter, scopeMetrics: ScopeMetrics): void {
  const { scope } = scopeMetrics;
  w.message(1, (s) => {
    s.string(1, scope.name);
    if (scope.version) s.string(2, scope.version);
  });
  for (const metric of scopeMetrics.metrics) w.message(2, (m) => writeMetric(m, metric));
  if (scope.schemaUrl) w.string(3, scope.schemaUrl);
}

function writeMetric(w: ProtobufWriter, metric: MetricData): void {
  const { descriptor } = metric;
  w.string(1, descriptor.name);
  if (descriptor.description) w.string(2, descriptor.description);
  if (descriptor.unit) w.string(3, descriptor.unit);
  const isInt = descriptor.valueType === ValueType.INT;
  switch (metric.dataPointType) {
    case DataPointType.GAUGE:
      w.message(5, (gauge) => {
        for (const point of metric.dataPoints) gauge.message(1, (p) => writeNumberPoint(p, point, isInt));
      });
      break;
    case DataPointType.SUM:
      w.message(7, (sum) => {
        for (const point of metric.dataPoints) sum.message(1, (p) => writeNumberPoint(p, point, isInt));
        sum.uint(2, temporality(metric.aggregationTemporality));
        if (metric.isMonotonic) sum.uint(3, 1);
      });
      break;
    case DataPointType.HISTOGRAM:
      w.message(9, (histogram) => {
        for (const point of metric.dataPoints) histogram.message(1, (p) => writeHistogramPoint(p, point));
        histogram.uint(2, temporality(metric.aggregationTemporality));
      });
      break;
    default:
      throw new Error(`cannot encode ${descriptor.name}: exponential histograms are not supported`);
  }
}

/** NumberDataPoint: attributes 7, start 2, time 3, as_double 4, exemplars 5, as_int 6. */
function writeNumberPoint(w: ProtobufWriter, point: DataPoint<number>, isInt: boolean): void {
  writeAttributes(w, 7, point.attributes);
  w.fixed64(2, nanos(point.startTime));
  w.fixed64(3, nanos(point.endTime));
  if (isInt) w.sfixed64(6, BigInt(Math.round(point.value)));
  else w.double(4, point.value);
  for (const e of exemplarsOf(point)) w.message(5, (x) => writeExemplar(x, e, isInt));
}

/**
 * HistogramDataPoint: attributes 9, start 2, time 3, count 4, sum 5, bucket_counts 6,
 * explicit_bounds 7, exemplars 8, min 11, max 12.
 */
function writeHistogramPoint(w: ProtobufWriter, point: DataPoint<Histogram>): void {
  const h = point.value;
  writeAttributes(w, 9, point.attributes);
  w.fixed64(2, nanos(point.startTime));
  w.fixed64(3, nanos(point.endTime));
  w.fixed64(4, BigInt(h.count));
  if (h.sum !== undefined) w.double(5, h.sum);
  w.packedFixed64(6, h.buckets.counts);
  w.packedDouble(7, h.buckets.boundaries);
  for (const e of exemplarsOf(point)) w.message(8, (x) => writeExemplar(x, e, false));
  if (h.min !== undefined && h.count > 0) w.double(11, h.min);
  if (h.max !== undefined && h.count > 0) w.double(12, h.max);
}

/** Exemplar: time 2, as_double 3, span_id 4, trace_id 5, as_int 6. */
function writeExemplar(w: ProtobufWriter, e: ExemplarData, isInt: boolean): void {
  w.fixed64(2, BigInt(e.timeMicros) * 1000n);
  if (isInt) w.sfixed64(6, BigInt(Math.round(e.value)));
  else w.double(3, e.value);
  w.bytes(4, Buffer.from(e.spanId, 'hex'));
  w.bytes(5, Buffer.from(e.traceId, 'hex'));
}

/** repeated KeyValue (key 1, value 2). */
function writeAttributes(w: ProtobufWriter, field: number, attributes: Attributes): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    w.message(field, (kv) => {
      kv.string(1, key);
      kv.message(2, (v) => writeAnyValue(v, value));
    });
  }
}

/** AnyValue: string 1, bool 2, int 3, double 4, array 5 (ArrayValue: values 1). */
function writeAnyValue(w: ProtobufWriter, value: AttributeValue | null | undefined): void {
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') w.uint(2, value ? 1 : 0);
  else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) w.uint(3, value);
    else w.double(4, value);
  } else if (Array.isArray(value)) {
    w.message(5, (array) => {
      for (const item of value) array.message(1, (v) => writeAnyValue(v, item));
    });
  }
}

export function exemplarsOf(point: DataPoint<unknown>): readonly ExemplarData[] {
  return (point as DataPointWithExemplars<unknown>).exemplars ?? [];
}

export function nanos(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

/** AggregationTemporality in the proto: 1 delta, 2 cumulative (the SDK's enum is 0/1). */
export function temporality(value: number): number {
  return value === 0 ? 1 : 2;
}
