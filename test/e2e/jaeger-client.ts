/**
 * A small client for Jaeger v2's query HTTP API, as the e2e tests use it:
 *  - one trace by id: api_v3 `GET /api/v3/traces/{id}` (OTLP JSON);
 *  - searches: the UI's API `GET /api/traces?service=…&tags={"k":"v"}&minDuration=…`, because
 *    Jaeger v2.13.0 (what scripts/build-jaeger.sh builds; the Go proxy here refuses v2.19+)
 *    IGNORES `query.attributes` on the HTTP `GET /api/v3/traces` — a tag search there would
 *    silently return every trace. In this Jaeger (memstore) every condition of a search —
 *    service, operation, tags, min/max duration — must hold for one and the same span.
 */
import { fetchTrace, type AttributeValue, type SpanKindName, type TraceSpan } from '../../scripts/render-trace.ts';

export type { TraceSpan } from '../../scripts/render-trace.ts';

export interface TraceSearch {
  service: string;
  operation?: string;
  /** Span (or resource) attributes, compared as strings: `{"nginx.upstream.connect.syn_retransmit_suspected": "true"}`. */
  tags?: Record<string, string>;
  /** e.g. `900ms` */
  minDuration?: string;
  maxDuration?: string;
  /** Span start window, unix microseconds (default: Jaeger's lookback .. now). */
  startMicros?: number;
  endMicros?: number;
  /** Most traces returned (default 5000; Jaeger's own default is 100). */
  limit?: number;
}

interface UiTag { key: string; type: string; value: unknown }
interface UiSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: Array<{ refType: string; traceID: string; spanID: string }>;
  startTime: number;
  duration: number;
  tags?: UiTag[];
  processID: string;
}
interface UiTrace {
  traceID: string;
  spans: UiSpan[];
  processes: Record<string, { serviceName: string; tags?: UiTag[] }>;
}

function uiValue(tag: UiTag): AttributeValue {
  if (tag.type === 'int64' || tag.type === 'float64') return Number(tag.value);
  if (tag.type === 'bool') return tag.value === true || tag.value === 'true';
  return tag.value as AttributeValue;
}

/** Spans of a trace in the UI API's format, in the same shape as api_v3's (µs precision). */
export function spansFromUiTrace(trace: UiTrace): TraceSpan[] {
  return trace.spans.map((s) => {
    const attributes: Record<string, AttributeValue> = {};
    let kind: SpanKindName = 'UNSPECIFIED';
    let statusCode = 0;
    for (const tag of s.tags ?? []) {
      if (tag.key === 'span.kind') kind = String(tag.value).toUpperCase() as SpanKindName;
      else if (tag.key === 'otel.status_code') statusCode = tag.value === 'ERROR' ? 2 : tag.value === 'OK' ? 1 : 0;
      else if (tag.key === 'error' && tag.value === true) statusCode = 2;
      else attributes[tag.key] = uiValue(tag);
    }
    const process = trace.processes[s.processID];
    const resource: Record<string, AttributeValue> = { 'service.name': process?.serviceName ?? '' };
    for (const tag of process?.tags ?? []) resource[tag.key] = uiValue(tag);
    const startNs = BigInt(s.startTime) * 1000n;
    const endNs = startNs + BigInt(s.duration) * 1000n;
    const parent = (s.references ?? []).find((r) => r.refType === 'CHILD_OF' && r.traceID === s.traceID);
    return {
      traceId: s.traceID,
      spanId: s.spanID,
      parentSpanId: parent?.spanID ?? '',
      name: s.operationName,
      kind,
      service: process?.serviceName ?? '',
      startNs,
      endNs,
      duration: s.duration / 1e6,
      attributes,
      resource,
      statusCode,
      statusMessage: '',
    };
  });
}

export class JaegerClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  /** One trace via api_v3 (`GET /api/v3/traces/{id}`); undefined when Jaeger has none. */
  getTrace(traceId: string): Promise<TraceSpan[] | undefined> {
    return fetchTrace(this.baseUrl, traceId);
  }

  /** Waits until the trace exists and `done(spans)` holds; returns its spans. */
  async waitForTrace(traceId: string, done: (spans: TraceSpan[]) => boolean = () => true, timeoutMs = 15_000): Promise<TraceSpan[]> {
    const deadline = Date.now() + timeoutMs;
    let last: TraceSpan[] | undefined;
    for (;;) {
      last = await this.getTrace(traceId);
      if (last !== undefined && done(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(`Jaeger has ${last === undefined ? 'no trace' : `only ${last.length} spans of trace`} ${traceId} after ${timeoutMs} ms`);
      }
      await new Promise((ok) => setTimeout(ok, 200));
    }
  }

  /**
   * Searches traces through the UI API `GET /api/traces` (see the header: Jaeger v2.13's
   * HTTP api_v3 search ignores attributes). Returns whole traces, every service's spans.
   */
  async findTraces(q: TraceSearch): Promise<Map<string, TraceSpan[]>> {
    const params = new URLSearchParams({ service: q.service, limit: String(q.limit ?? 5000) });
    if (q.operation !== undefined) params.set('operation', q.operation);
    if (q.tags !== undefined) params.set('tags', JSON.stringify(q.tags));
    if (q.minDuration !== undefined) params.set('minDuration', q.minDuration);
    if (q.maxDuration !== undefined) params.set('maxDuration', q.maxDuration);
    if (q.startMicros !== undefined) params.set('start', String(Math.floor(q.startMicros)));
    if (q.endMicros !== undefined) params.set('end', String(Math.ceil(q.endMicros)));
    const res = await fetch(`${this.baseUrl}/api/traces?${params.toString()}`);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /api/traces?${params.toString()}: HTTP ${res.status} ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { data: UiTrace[] | null; errors?: unknown };
    const out = new Map<string, TraceSpan[]>();
    for (const trace of body.data ?? []) out.set(trace.traceID, spansFromUiTrace(trace));
    return out;
  }

  /** The trace ids a search finds. */
  async findTraceIds(q: TraceSearch): Promise<Set<string>> {
    return new Set((await this.findTraces(q)).keys());
  }

  /** `GET /api/v3/services`. */
  async services(): Promise<string[]> {
    const res = await fetch(`${this.baseUrl}/api/v3/services`);
    const body = (await res.json()) as { services?: string[] };
    return body.services ?? [];
  }
}
