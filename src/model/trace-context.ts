import type { AccessRecord } from '../parse/access-record.js';

/** Where the request's spans hang: the caller's trace, or a new one rooted at nginx. */
export interface CallerContext {
  traceId: string;
  /** The caller's span, parent of nginx's SERVER span; absent when nginx is the root. */
  parentSpanId?: string;
  traceFlags: number;
  traceState?: string;
  source: 'traceparent' | 'x-amzn-trace-id' | 'request_id';
}

// The same rules as nginx/otel-trace-context.conf, which sends upstreams this trace id:
// a version-00 traceparent with non-zero ids, else an X-Ray Root, else $request_id.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const XRAY_ROOT = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/;
const XRAY_PARENT = /Parent=([0-9a-f]{16})/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
const SAMPLED = 1;

export function callerContext(record: AccessRecord): CallerContext {
  const tp = record.traceparent !== undefined ? TRACEPARENT.exec(record.traceparent) : null;
  if (tp !== null && tp[1] !== ZERO_TRACE && tp[2] !== ZERO_SPAN) {
    return {
      traceId: tp[1],
      parentSpanId: tp[2],
      traceFlags: parseInt(tp[3], 16),
      traceState: record.tracestate,
      source: 'traceparent',
    };
  }
  // Hand-written: the OTel X-Ray propagator ignores Root-only headers, which ALB sends.
  const xray = record.xAmznTraceId;
  const root = xray !== undefined ? XRAY_ROOT.exec(xray) : null;
  if (root !== null && root[1] + root[2] !== ZERO_TRACE) {
    const parent = XRAY_PARENT.exec(xray!);
    return {
      traceId: root[1] + root[2],
      parentSpanId: parent !== null && parent[1] !== ZERO_SPAN ? parent[1] : undefined,
      traceFlags: SAMPLED,
      source: 'x-amzn-trace-id',
    };
  }
  return { traceId: record.requestId, traceFlags: SAMPLED, source: 'request_id' };
}
