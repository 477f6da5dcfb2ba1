import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { hrTimeToMicroseconds } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import type { LogSpan } from '../../src/model/log-span.js';
import { RequestSpanModel } from '../../src/model/request-spans.js';
import { sidecarResource } from '../../src/model/resource.js';
import type { AccessRecord } from '../../src/parse/access-record.js';

const model = new RequestSpanModel({ resource: sidecarResource(), scope: { name: 'test' } });
const requestId = '8b76cd0f148c4037d85955f8ab1c821f';

function spansOf(record: AccessRecord): LogSpan[] {
  const out: LogSpan[] = [];
  model.spans(record, out);
  return out;
}

const retried: AccessRecord = {
  msec: 1795710514.488, requestTime: 1.015, requestId, method: 'GET', requestUri: '/api/items?id=7', status: 200,
  upstreams: [
    { group: 0, address: '127.0.0.1:9001', status: 502, responseTime: 0.0 },
    { group: 0, address: '127.0.0.1:9002', status: 200, connectTime: 1.003, headerTime: 1.01, responseTime: 1.012 },
  ],
};

describe('RequestSpanModel', () => {
  it('builds SERVER → CLIENT per attempt → connect, laid out from the request start', () => {
    const [server, a0, c0, a1, c1] = spansOf(retried);
    expect([server.kind, a0.kind, c0.kind, a1.kind, c1.kind]).toEqual([SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.INTERNAL]);
    expect(c0.name).toBe('connect');
    expect(server.spanContext().spanId).toBe(requestId.slice(0, 16));
    expect(a0.spanContext().spanId).toBe(requestId.slice(16));
    expect(a0.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(c1.parentSpanContext?.spanId).toBe(a1.spanContext().spanId);
    expect(hrTimeToMicroseconds(server.endTime)).toBe(1795710514488000);
    expect(server.endMicros - server.startMicros).toBe(1_015_000);
    expect(a0.startMicros).toBe(server.startMicros);
    expect(a1.startMicros).toBe(a0.endMicros);
    expect(a1.endMicros - a1.startMicros).toBe(1_012_000);
    expect(c1.endMicros - c1.startMicros).toBe(1_003_000);
    expect(server.attributes['url.path']).toBe('/api/items');
    expect(server.attributes['url.query']).toBeUndefined();
  });

  it('marks an attempt that never connected, and flags a SYN-retransmit connect', () => {
    const [, a0, c0, a1, c1] = spansOf(retried);
    expect(c0.status.code).toBe(SpanStatusCode.ERROR);
    expect(c0.attributes['error.type']).toBe('connection_failed');
    expect(a0.attributes['nginx.upstream.connect_time']).toBeUndefined();
    expect(a1.attributes['http.request.resend_count']).toBe(1);
    expect(a1.attributes['nginx.upstream.connect_time']).toBe(1.003);
    expect(c1.attributes['nginx.upstream.connect.syn_retransmit_suspected']).toBe(true);
    expect(c1.attributes['server.port']).toBe(9002);
  });

  it('tells why an attempt never connected: refused, timed out, abandoned by the client, no live upstream', () => {
    const attempt = (address: string, status: number | undefined) => {
      const record: AccessRecord = { msec: 1795710514.488, requestTime: 0.4, requestId, method: 'GET', status: status ?? 499, upstreams: [{ group: 0, address, status, responseTime: 0.4 }] };
      const [, client, connect] = spansOf(record);
      return [client.attributes['error.type'], connect.attributes['error.type'], connect.status.message];
    };
    expect(attempt('127.0.0.1:9001', 502)).toEqual(['connection_failed', 'connection_failed', 'connect failed (refused, reset or unreachable)']);
    expect(attempt('127.0.0.1:9001', 504)).toEqual(['timeout', 'timeout', 'connect timed out']);
    // what nginx logs for a client that gives up while the connect waits (status 499, upstream "-")
    expect(attempt('127.0.0.1:9001', undefined)).toEqual(['cancelled', 'cancelled', 'connect abandoned (the client closed the connection first)']);
    expect(attempt('backend', 502)).toEqual(['no_live_upstreams', 'no_live_upstreams', 'no live upstreams']);
    expect(attempt('unix:/run/app.sock', 502)[0]).toBe('connection_failed');
  });

  it('keeps the attempts inside the request when $request_time is missing or smaller than their sum', () => {
    for (const requestTime of [0, 0.01]) {
      const [server, a0, , a1] = spansOf({ ...retried, requestTime, upstreams: [{ ...retried.upstreams[0], responseTime: 0.008 }, { ...retried.upstreams[1], responseTime: 0.007 }] });
      expect(a0.startMicros).toBe(server.startMicros);
      expect(a1.endMicros).toBe(server.endMicros);
      expect(server.endMicros - server.startMicros).toBe(15_000);
    }
  });

  it('gives byte-identical spans when a line is replayed', () => {
    const ids = (spans: LogSpan[]) => spans.map((s) => [s.spanContext().traceId, s.spanContext().spanId, s.parentSpanContext?.spanId]);
    expect(ids(spansOf(retried))).toEqual(ids(spansOf({ ...retried })));
    expect(new Set(spansOf(retried).map((s) => s.spanContext().spanId)).size).toBe(5);
  });

  it('parses unix sockets and upstream names', () => {
    const [, a] = spansOf({ ...retried, upstreams: [{ group: 0, address: 'unix:/run/app.sock', status: 200, connectTime: 0, responseTime: 0.002 }] });
    expect(a.attributes['server.address']).toBe('/run/app.sock');
    expect(a.attributes['network.transport']).toBe('unix');
    const [, b] = spansOf({ ...retried, upstreams: [{ group: 0, address: 'backend', status: 502 }] });
    expect(b.attributes['server.address']).toBe('backend');
  });
});
