// A real OTLP/HTTP traces receiver for tests: decodes the protobuf (or JSON) the sidecar
// sends, and can play a collector that is down or refuses requests.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import { attributes, type AttributeValue } from './otlp-attributes.ts';
export type { AttributeValue };

const root = protobuf.loadSync(new URL('./otlp-trace.proto', import.meta.url).pathname);
const Request = root.lookupType('otlp.ExportTraceServiceRequest');


export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  /** 1 internal, 2 server, 3 client */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  /** Duration in seconds. */
  duration: number;
  attributes: Record<string, AttributeValue>;
  status: { code: number; message: string };
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  requests: number;
  contentTypes: string[];
  /** Request headers of every accepted request, in order. */
  headers: IncomingHttpHeaders[];
  /** Answer every request with this HTTP status (200 = normal). */
  respondWith(status: number, headers?: Record<string, string>): void;
  waitForSpans(count: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(port = 0): Promise<OtlpReceiver> {
  let status = 200;
  let extraHeaders: Record<string, string> = {};
  const receiver = {
    url: '',
    spans: [] as ReceivedSpan[],
    requests: 0,
    contentTypes: [] as string[],
    headers: [] as IncomingHttpHeaders[],
    respondWith(next: number, headers: Record<string, string> = {}) {
      status = next;
      extraHeaders = headers;
    },
    async waitForSpans(count: number, timeoutMs = 15_000): Promise<ReceivedSpan[]> {
      const deadline = Date.now() + timeoutMs;
      while (receiver.spans.length < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} spans (have ${receiver.spans.length})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return receiver.spans;
    },
    close: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.url !== '/v1/traces') {
      // The sidecar also exports metrics to the same collector: accept and ignore them.
      res.writeHead(200).end();
      return;
    }
    receiver.requests++;
    if (status !== 200) {
      res.writeHead(status, extraHeaders).end();
      return;
    }
    const type = req.headers['content-type'] ?? '';
    receiver.contentTypes.push(type);
    receiver.headers.push(req.headers);
    try {
      const decoded = type.includes('json') ? JSON.parse(body.toString('utf8')) : Request.toObject(Request.decode(body), { longs: String, bytes: Buffer, oneofs: true });
      receiver.spans.push(...flatten(decoded, type.includes('json')));
      res.writeHead(200, { 'content-type': type.includes('json') ? 'application/json' : 'application/x-protobuf' }).end(type.includes('json') ? '{}' : undefined);
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${address.port}/v1/traces`;
  receiver.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return receiver;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const body = Buffer.concat(parts);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function flatten(request: Any, json: boolean): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const id = (value: Any): string => (value === undefined || value === null ? '' : json ? String(value).toLowerCase() : Buffer.from(value).toString('hex'));
  for (const rs of request.resourceSpans ?? request.resource_spans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? rs.scope_spans ?? []) {
      for (const span of ss.spans ?? []) {
        const startNs = BigInt(span.startTimeUnixNano);
        const endNs = BigInt(span.endTimeUnixNano);
        out.push({
          traceId: id(span.traceId),
          spanId: id(span.spanId),
          parentSpanId: id(span.parentSpanId),
          traceState: span.traceState ?? '',
          flags: Number(span.flags ?? 0),
          name: span.name,
          kind: Number(span.kind),
          startNs,
          endNs,
          duration: Number(endNs - startNs) / 1e9,
          attributes: attributes(span.attributes),
          status: { code: Number(span.status?.code ?? 0), message: span.status?.message ?? '' },
          resource,
          scope: ss.scope?.name ?? '',
        });
      }
    }
  }
  return out;
}
