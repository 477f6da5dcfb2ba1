// The batcher with the real OTLP/HTTP exporter against a local HTTP collector whose answers
// the tests choose: partial success, a collector too slow for the shutdown, retries.
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryTicket } from '../../src/deliver/delivery-ticket.js';
import { OtlpSpanExporter } from '../../src/deliver/otlp-span-exporter.js';
import { DEFAULT_BATCHER_OPTIONS, SpanBatcher } from '../../src/deliver/span-batcher.js';
import type { LogSpan } from '../../src/model/log-span.js';
import { RequestSpanModel } from '../../src/model/request-spans.js';
import { sidecarResource } from '../../src/model/resource.js';
import { JsonLineParser } from '../../src/parse/json-line-parser.js';
import { PipelineStats } from '../../src/ops/pipeline-stats.js';
import { VERSION } from '../../src/version.js';

const LINES = readFileSync(new URL('../fixtures/proxy-basic.json.log', import.meta.url), 'utf8').split('\n').filter(Boolean);

function spans(count: number): LogSpan[] {
  const parser = new JsonLineParser();
  const model = new RequestSpanModel({ resource: sidecarResource(), scope: { name: 'nginx-otel-sidecar', version: VERSION } });
  const out: LogSpan[] = [];
  for (const line of LINES) model.spans(parser.parse(line), out);
  if (out.length < count) throw new Error(`the fixture makes only ${out.length} spans`);
  return out.slice(0, count);
}

type Answer = (res: ServerResponse, request: number, bytes: number) => void;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function collector(answer: Answer): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    req.on('end', () => answer(res, ++requests, bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, requests: () => requests };
}

function batcher(url: string, encoding: 'protobuf' | 'json', log: string[], extra: Partial<typeof DEFAULT_BATCHER_OPTIONS> = {}) {
  const stats = new PipelineStats();
  const exporter = new OtlpSpanExporter(encoding, { url, timeoutMillis: 2000 });
  return { stats, batcher: new SpanBatcher(exporter, stats, { ...DEFAULT_BATCHER_OPTIONS, flushIntervalMs: 10, retryInitialMs: 50, ...extra, log: (m) => log.push(m) }) };
}

describe('SpanBatcher over OTLP/HTTP', () => {
  it.each(['protobuf', 'json'] as const)('counts spans a partial success (%s) names as rejected, not exported, and says why', async (encoding) => {
    // ExportTraceServiceResponse { partial_success { rejected_spans: 7, error_message: "bad" } }
    const body = encoding === 'protobuf'
      ? Buffer.from([0x0a, 0x07, 0x08, 0x07, 0x12, 0x03, 0x62, 0x61, 0x64])
      : JSON.stringify({ partialSuccess: { rejectedSpans: '7', errorMessage: 'bad' } });
    const { url } = await collector((res) => res.writeHead(200, { 'content-type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json' }).end(body));
    const log: string[] = [];
    const { stats, batcher: b } = batcher(url, encoding, log);
    let delivered = false;
    await b.add(spans(20), new DeliveryTicket(() => { delivered = true; }));
    expect(await b.flush(5000)).toBe(true);
    await b.shutdown();
    expect({ exported: stats.spansExported, rejected: stats.spansRejected, failed: stats.spansFailed, delivered }).toEqual({ exported: 13, rejected: 7, failed: 0, delivered: true });
    expect(log).toEqual(['collector accepted 13 of 20 spans and rejected 7 as invalid: bad']);
  });

  it('shutdown waits for the requests in flight: what they deliver is exported, not failed, and nothing is sent after it', async () => {
    const { url, requests } = await collector((res) => { setTimeout(() => res.writeHead(200).end(), 300); });
    const { stats, batcher: b } = batcher(url, 'protobuf', []);
    await b.add(spans(10), new DeliveryTicket(() => {}));
    expect(await b.flush(50)).toBe(false); // the collector has not answered yet
    await b.shutdown();
    expect({ exported: stats.spansExported, failed: stats.spansFailed, requests: requests() }).toEqual({ exported: 10, failed: 0, requests: 1 });
  });

  it('a batch failing at shutdown is counted failed once, and not retried afterwards', async () => {
    const { url, requests } = await collector((res) => { setTimeout(() => res.writeHead(503).end(), 200); });
    const { stats, batcher: b } = batcher(url, 'protobuf', []);
    await b.add(spans(10), new DeliveryTicket(() => {}));
    await sleep(50);
    await b.shutdown(); // waits for the exporter's own retries (within its 2 s timeout)
    const atShutdown = requests();
    await sleep(500);
    expect(requests()).toBe(atShutdown);
    expect({ exported: stats.spansExported, failed: stats.spansFailed, retries: stats.exportRetries }).toEqual({ exported: 0, failed: 10, retries: 0 });
  });

  it('retries a collector that answers 503 until it takes the batch; a retry is counted only when one is scheduled', async () => {
    const { url } = await collector((res, n) => res.writeHead(n <= 2 ? 503 : 200).end());
    const { stats, batcher: b } = batcher(url, 'protobuf', [], {});
    await b.add(spans(10), new DeliveryTicket(() => {}));
    expect(await b.flush(20_000)).toBe(true);
    await b.shutdown();
    expect(stats.spansExported).toBe(10);
    expect(stats.exportRetries).toBe(stats.exportFailures);
  });

  it('splits a batch the collector refuses as too large (413) until the halves fit; a single span too large is rejected', async () => {
    const batch = spans(20);
    const { url } = await collector((res, _n, bytes) => res.writeHead(bytes > 2500 ? 413 : 200).end());
    const log: string[] = [];
    const { stats, batcher: b } = batcher(url, 'protobuf', log);
    let delivered = false;
    await b.add(batch, new DeliveryTicket(() => { delivered = true; }));
    expect(await b.flush(10_000)).toBe(true);
    expect({ exported: stats.spansExported, rejected: stats.spansRejected, delivered }).toEqual({ exported: 20, rejected: 0, delivered: true });
    expect(log[0]).toBe('collector refused 20 spans as too large (413): sending them as 10 and 10');
    await b.shutdown();

    const tiny = await collector((res) => res.writeHead(413).end());
    const second = batcher(tiny.url, 'protobuf', []);
    await second.batcher.add(spans(3), new DeliveryTicket(() => {}));
    expect(await second.batcher.flush(10_000)).toBe(true);
    await second.batcher.shutdown();
    expect({ exported: second.stats.spansExported, rejected: second.stats.spansRejected, requests: tiny.requests() }).toEqual({ exported: 0, rejected: 3, requests: 5 });
  });
});
