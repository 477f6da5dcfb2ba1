// Issue #2 §7: real nginx with the shipped config → access log → the real sidecar CLI
// (`run`) → OTLP/HTTP protobuf → a receiver that decodes it. Asserts the span tree, ids,
// timings, attributes, and the traceparent the upstream received.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../support/http-client.ts';
import { freePort, startNginx, type NginxInstance } from '../support/nginx.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { startSidecar, type Sidecar } from '../support/sidecar.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;

describe('nginx → sidecar → OTLP', () => {
  let receiver: OtlpReceiver;
  let upstream: Upstream;
  let nginx: NginxInstance;
  let sidecar: Sidecar;
  let deadPort: number;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream({ name: 'app' });
    deadPort = await freePort();
    nginx = await startNginx({
      http: (ctx) => `
        access_log ${ctx.accessLog} otel_json;
        upstream retrying { server 127.0.0.1:${deadPort}; server ${upstream.address} backup; }
        server {
          listen ${ctx.listen()};
          location / { proxy_pass http://${upstream.address}; }
          location /retry/ { proxy_pass http://retrying; proxy_next_upstream error timeout; }
          location /down/ { proxy_pass http://127.0.0.1:${deadPort}; }
        }`,
    });
    sidecar = startSidecar(['run', '--file', nginx.accessLog, '--start-at', 'beginning', '--endpoint', receiver.url, '--status-interval', '0']);
    await sidecar.waitForStderr(/following/);
  });

  afterAll(async () => {
    await sidecar?.stop();
    await nginx?.stop();
    await upstream?.stop();
    await receiver?.close();
  });

  async function request(path: string, headers: Record<string, string> = {}): Promise<{ requestId: string; spans: ReceivedSpan[] }> {
    const before = nginx.readAccessLog().length;
    await httpRequest({ port: nginx.port, path, headers });
    const lines = await nginx.waitForLines(before + 1);
    const logged = JSON.parse(lines[before]) as { request_id: string; upstream_addr: string };
    const requestId = logged.request_id;
    const attempts = logged.upstream_addr === '' ? 0 : logged.upstream_addr.split(/, | : /).length;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const server = receiver.spans.find((s) => s.kind === SERVER && s.attributes['nginx.request_id'] === requestId);
      if (server !== undefined) {
        const tree = collectTree(receiver.spans, server);
        if (tree.length === 1 + 2 * attempts) return { requestId, spans: tree };
      }
      if (Date.now() > deadline) throw new Error(`no spans for request ${requestId}; sidecar stderr:\n${sidecar.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('joins a W3C traceparent: SERVER → CLIENT → connect, and the upstream nests under the CLIENT span', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const { requestId, spans } = await request('/api/items?id=7', { traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate: 'vendor=abc' });
    const [server, client, connect] = spans;
    expect(receiver.contentTypes[0]).toBe('application/x-protobuf');
    expect(server).toMatchObject({ kind: SERVER, traceId, parentSpanId: 'b7ad6b7169203331', spanId: requestId.slice(0, 16), name: 'GET', traceState: 'vendor=abc' });
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET', 'url.path': '/api/items', 'url.scheme': 'http', 'server.address': '127.0.0.1',
      'server.port': nginx.port, 'client.address': '127.0.0.1', 'network.protocol.version': '1.1',
      'http.response.status_code': 200, 'nginx.request_id': requestId,
    });
    expect(server.attributes['url.query']).toBeUndefined();
    expect(server.resource['service.name']).toBe('nginx');
    expect(client).toMatchObject({ kind: CLIENT, traceId, parentSpanId: server.spanId, spanId: requestId.slice(16) });
    expect(client.attributes).toMatchObject({ 'server.address': '127.0.0.1', 'server.port': upstream.port, 'http.response.status_code': 200 });
    expect(typeof client.attributes['nginx.upstream.connect_time']).toBe('number');
    expect(connect).toMatchObject({ kind: INTERNAL, name: 'connect', parentSpanId: client.spanId });
    expect(connect.startNs).toBe(client.startNs);
    expect(connect.duration).toBeCloseTo(client.attributes['nginx.upstream.connect_time'] as number, 6);
    expect(server.startNs).toBeLessThanOrEqual(client.startNs);

    // The stitching: the upstream got nginx's CLIENT span as its parent.
    const seen = upstream.requests.find((r) => r.url === '/api/items?id=7');
    expect(seen?.traceparent).toBe(`00-${traceId}-${client.spanId}-01`);
    expect(seen?.tracestate).toBe('vendor=abc');
  });

  it('joins an X-Ray trace, with and without Parent', async () => {
    const withParent = await request('/xray/parent', { 'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' });
    expect(withParent.spans[0]).toMatchObject({ traceId: '5759e988bd862e3fe1be46a994272793', parentSpanId: '53995c3f42cd8ad8' });
    const rootOnly = await request('/xray/root', { 'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272794' });
    expect(rootOnly.spans[0]).toMatchObject({ traceId: '5759e988bd862e3fe1be46a994272794', parentSpanId: '' });
    const seen = upstream.requests.find((r) => r.url === '/xray/root');
    expect(seen?.traceparent).toBe(`00-5759e988bd862e3fe1be46a994272794-${rootOnly.spans[1].spanId}-01`);
    // An all-zero Root is no trace id: nginx and the sidecar both fall back to $request_id.
    const zero = await request('/xray/zero', { 'X-Amzn-Trace-Id': 'Root=1-00000000-000000000000000000000000' });
    expect(zero.spans[0]).toMatchObject({ traceId: zero.requestId, parentSpanId: '' });
    expect(upstream.requests.find((r) => r.url === '/xray/zero')?.traceparent).toBe(`00-${zero.requestId}-${zero.requestId.slice(16)}-01`);
  });

  it('starts a trace from $request_id when no header came', async () => {
    const { requestId, spans } = await request('/plain');
    expect(spans[0]).toMatchObject({ traceId: requestId, parentSpanId: '' });
    expect(upstream.requests.find((r) => r.url === '/plain')?.traceparent).toBe(`00-${requestId}-${requestId.slice(16)}-01`);
  });

  it('gives every attempt its own CLIENT span; a refused connect is an error connect span', async () => {
    const { spans } = await request('/retry/x');
    const clients = spans.filter((s) => s.kind === CLIENT);
    expect(clients.map((s) => s.attributes['server.port'])).toEqual([deadPort, upstream.port]);
    expect(clients[0].status.code).toBe(2);
    expect(clients[0].attributes['http.response.status_code']).toBe(502);
    expect(clients[1].attributes['http.request.resend_count']).toBe(1);
    expect(clients[1].startNs).toBeGreaterThanOrEqual(clients[0].endNs);
    const connects = spans.filter((s) => s.name === 'connect');
    expect(connects[0]).toMatchObject({ parentSpanId: clients[0].spanId, status: { code: 2 } });
    expect(connects[0].attributes['error.type']).toBe('connection_failed');
    expect(connects[1].status.code).toBe(0);
  });

  it('marks a request nginx answered 502 as an error', async () => {
    const { spans } = await request('/down/');
    expect(spans[0].attributes['http.response.status_code']).toBe(502);
    expect(spans[0].attributes['error.type']).toBe('502');
    expect(spans[0].status.code).toBe(2);
  });
});

/** The span and its descendants, parents first, children in start order. */
export function collectTree(all: ReceivedSpan[], root: ReceivedSpan): ReceivedSpan[] {
  const out = [root];
  const children = all.filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId)
    .sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  for (const child of children) out.push(...collectTree(all, child));
  return out;
}
