import { describe, expect, it } from 'vitest';
import { callerContext } from '../../src/model/trace-context.js';
import type { AccessRecord } from '../../src/parse/access-record.js';

const base: AccessRecord = { msec: 1, requestTime: 0, requestId: '8b76cd0f148c4037d85955f8ab1c821f', upstreams: [] };

describe('callerContext', () => {
  it('joins a W3C traceparent and carries tracestate', () => {
    const c = callerContext({ ...base, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', tracestate: 'vendor=x' });
    expect(c).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', parentSpanId: 'b7ad6b7169203331', traceFlags: 0, traceState: 'vendor=x', source: 'traceparent' });
  });

  it('ignores an all-zero traceparent like nginx/otel-trace-context.conf does', () => {
    expect(callerContext({ ...base, traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' }).source).toBe('request_id');
    expect(callerContext({ ...base, traceparent: '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01' }).source).toBe('request_id');
  });

  it('takes the X-Ray Root, with and without Parent', () => {
    const withParent = callerContext({ ...base, xAmznTraceId: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' });
    expect(withParent).toMatchObject({ traceId: '5759e988bd862e3fe1be46a994272793', parentSpanId: '53995c3f42cd8ad8', source: 'x-amzn-trace-id' });
    const rootOnly = callerContext({ ...base, xAmznTraceId: 'Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793' });
    expect(rootOnly).toMatchObject({ traceId: '5759e988bd862e3fe1be46a994272793', parentSpanId: undefined, source: 'x-amzn-trace-id' });
    // an all-zero trace id is invalid, as in a traceparent
    expect(callerContext({ ...base, xAmznTraceId: 'Root=1-00000000-000000000000000000000000' }).source).toBe('request_id');
  });

  it('prefers traceparent over X-Ray, and falls back to $request_id', () => {
    expect(callerContext({ ...base, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', xAmznTraceId: 'Root=1-5759e988-bd862e3fe1be46a994272793' }).source).toBe('traceparent');
    expect(callerContext(base)).toEqual({ traceId: base.requestId, traceFlags: 1, source: 'request_id' });
  });
});
