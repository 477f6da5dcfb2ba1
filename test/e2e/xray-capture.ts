/**
 * A local stand-in for the AWS X-Ray API, as far as the collector's `awsxray` exporter uses
 * it: `PutTraceSegments` (`POST /TraceSegments`, JSON `{"TraceSegmentDocuments": ["<segment
 * JSON>", …]}`), answered with `{"UnprocessedTraceSegments": []}`. Every request is kept, and
 * every segment document parsed, for the test to inspect. Listens on 127.0.0.1 only.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { registerCleanup } from '../support/cleanup.ts';

export interface CapturedPut {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An X-Ray segment or subsegment document (the fields the tests look at). */
export interface SegmentDocument {
  trace_id: string;
  id: string;
  parent_id?: string;
  /** "subsegment" for subsegments sent as their own documents. */
  type?: string;
  name: string;
  namespace?: string;
  start_time: number;
  end_time?: number;
  annotations?: Record<string, string | number | boolean>;
  metadata?: Record<string, Record<string, unknown>>;
  http?: { request?: Record<string, unknown>; response?: Record<string, unknown> };
  fault?: boolean;
  error?: boolean;
  [key: string]: unknown;
}

export interface XrayCapture {
  /** `http://127.0.0.1:<port>`: the exporter's `endpoint`. */
  url: string;
  requests: CapturedPut[];
  /** Every document of every PutTraceSegments call, parsed. */
  documents(): SegmentDocument[];
  /** Waits until at least `count` documents arrived. */
  waitForDocuments(count: number, timeoutMs?: number): Promise<SegmentDocument[]>;
  close(): Promise<void>;
}

export async function startXrayCapture(): Promise<XrayCapture> {
  const requests: CapturedPut[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ UnprocessedTraceSegments: [] }));
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const addr = server.address();
  const port = addr !== null && typeof addr === 'object' ? addr.port : 0;
  const cleanup = registerCleanup(`x-ray capture 127.0.0.1:${port}`, () => { server.close(); server.closeAllConnections(); });
  const documents = (): SegmentDocument[] => requests
    .filter((r) => r.method === 'POST' && r.path === '/TraceSegments')
    .flatMap((r) => (JSON.parse(r.body) as { TraceSegmentDocuments: string[] }).TraceSegmentDocuments)
    .map((d) => JSON.parse(d) as SegmentDocument);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    documents,
    async waitForDocuments(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const docs = documents();
        if (docs.length >= count) return docs;
        if (Date.now() > deadline) throw new Error(`X-Ray capture got ${docs.length} documents in ${requests.length} requests, expected ${count}`);
        await new Promise((ok) => setTimeout(ok, 50));
      }
    },
    async close() {
      const closed = new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
      await closed;
      cleanup.cancel();
    },
  };
}
