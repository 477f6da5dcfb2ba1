import { ValueType, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { DataPointType, type DataPoint, type Histogram, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ExemplarData } from './metrics-delta.js';
import { exemplarsOf, nanos, temporality } from './otlp-metrics-protobuf.js';

/**
 * The same request as otlp-metrics-protobuf.ts in OTLP/JSON (for --protocol http/json):
 * camelCase fields, 64-bit integers as decimal strings, ids as hex, enums as numbers.
 */
export function encodeMetricsRequestJson(request: ResourceMetrics): Uint8Array {
  const body = {
    resourceMetrics: [{
      resource: { attributes: keyValues(request.resource.attributes) },
      scopeMetrics: request.scopeMetrics.map((sm) => ({
        scope: { name: sm.scope.name, ...(sm.scope.version ? { version: sm.scope.version } : {}) },
        metrics: sm.metrics.map(metric),
        ...(sm.scope.schemaUrl ? { schemaUrl: sm.scope.schemaUrl } : {}),
      })),
      ...(request.resource.schemaUrl ? { schemaUrl: request.resource.schemaUrl } : {}),
    }],
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

function metric(m: MetricData): object {
  const { name, description, unit, valueType } = m.descriptor;
  const isInt = valueType === ValueType.INT;
  const head = { name, ...(description ? { description } : {}), ...(unit ? { unit } : {}) };
  switch (m.dataPointType) {
    case DataPointType.GAUGE:
      return { ...head, gauge: { dataPoints: m.dataPoints.map((p) => numberPoint(p, isInt)) } };
    case DataPointType.SUM:
      return {
        ...head,
        sum: { dataPoints: m.dataPoints.map((p) => numberPoint(p, isInt)), aggregationTemporality: temporality(m.aggregationTemporality), isMonotonic: m.isMonotonic },
      };
    case DataPointType.HISTOGRAM:
      return { ...head, histogram: { dataPoints: m.dataPoints.map(histogramPoint), aggregationTemporality: temporality(m.aggregationTemporality) } };
    default:
      throw new Error(`cannot encode ${name}: exponential histograms are not supported`);
  }
}

function numberPoint(p: DataPoint<number>, isInt: boolean): object {
  const exemplars = exemplarsOf(p);
  return {
    attributes: keyValues(p.attributes),
    startTimeUnixNano: String(nanos(p.startTime)),
    timeUnixNano: String(nanos(p.endTime)),
    ...(isInt ? { asInt: String(Math.round(p.value)) } : { asDouble: p.value }),
    ...(exemplars.length > 0 ? { exemplars: exemplars.map((e) => exemplar(e, isInt)) } : {}),
  };
}

function histogramPoint(p: DataPoint<Histogram>): object {
  const h = p.value;
  const exemplars = exemplarsOf(p);
  return {
    attributes: keyValues(p.attributes),
    startTimeUnixNano: String(nanos(p.startTime)),
    timeUnixNano: String(nanos(p.endTime)),
    count: String(h.count),
    ...(h.sum !== undefined ? { sum: h.sum } : {}),
    bucketCounts: h.buckets.counts.map(String),
    explicitBounds: h.buckets.boundaries,
    ...(exemplars.length > 0 ? { exemplars: exemplars.map((e) => exemplar(e, false)) } : {}),
    ...(h.min !== undefined && h.count > 0 ? { min: h.min } : {}),
    ...(h.max !== undefined && h.count > 0 ? { max: h.max } : {}),
  };
}

function exemplar(e: ExemplarData, isInt: boolean): object {
  return {
    timeUnixNano: String(BigInt(e.timeMicros) * 1000n),
    ...(isInt ? { asInt: String(Math.round(e.value)) } : { asDouble: e.value }),
    spanId: e.spanId,
    traceId: e.traceId,
  };
}

function keyValues(attributes: Attributes): object[] {
  const out: object[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) out.push({ key, value: anyValue(value) });
  }
  return out;
}

function anyValue(value: AttributeValue | null | undefined): object {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map((v) => anyValue(v)) } };
  return {};
}
