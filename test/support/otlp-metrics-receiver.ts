// A real OTLP/HTTP metrics receiver for tests: decodes ExportMetricsServiceRequest (protobuf
// with protobufjs and otlp-metrics.proto, or OTLP/JSON) into flat data points. Given a
// traces receiver (otlp-receiver.ts), it also forwards everything else (/v1/traces) there,
// so one base URL plays a whole collector.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { OtlpReceiver } from './otlp-receiver.ts';
import { attributes, type AttributeValue } from './otlp-attributes.ts';
export type { AttributeValue };

const root = protobuf.loadSync(new URL('./otlp-metrics.proto', import.meta.url).pathname);
const Request = root.lookupType('otlp.ExportMetricsServiceRequest');

export interface ReceivedExemplar {
  traceId: string;
  spanId: string;
  value: number;
  timeNs: bigint;
}

export interface ReceivedPoint {
  metric: string;
  description: string;
  unit: string;
  type: 'histogram' | 'sum' | 'gauge';
  /** 1 delta, 2 cumulative (sums and histograms). */
  temporality: number;
  monotonic: boolean;
  attributes: Record<string, AttributeValue>;
  startNs: bigint;
  timeNs: bigint;
  /** Sums and gauges. */
  value: number;
  /** Histograms. */
  count: number;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts: number[];
  explicitBounds: number[];
  exemplars: ReceivedExemplar[];
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface ReceivedMetricsRequest {
  contentType: string;
  headers: IncomingHttpHeaders;
  points: ReceivedPoint[];
}

export interface OtlpMetricsReceiver {
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** baseUrl + /v1/metrics */
  url: string;
  /** baseUrl + /v1/traces (forwarded to the traces receiver, if one was given) */
  tracesUrl: string;
  requests: ReceivedMetricsRequest[];
  /** Every point of every request, in arrival order. */
  points(): ReceivedPoint[];
  /** Resolves with the points of the first request (from now on, or already received) for which `until` holds. */
  waitFor(until: (points: ReceivedPoint[]) => boolean, timeoutMs?: number): Promise<ReceivedPoint[]>;
  /** Answer metrics requests with this HTTP status (200 = normal). */
  respondWith(status: number): void;
  close(): Promise<void>;
}

export async function startOtlpMetricsReceiver(options: { traces?: OtlpReceiver } = {}): Promise<OtlpMetricsReceiver> {
  let status = 200;
  const requests: ReceivedMetricsRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const raw = await readRaw(req);
    if (req.url !== '/v1/metrics') {
      if (options.traces === undefined) {
        res.writeHead(404).end();
        return;
      }
      const forwarded = await fetch(options.traces.url, {
        method: 'POST',
        headers: pick(req.headers, ['content-type', 'content-encoding']),
        body: new Uint8Array(raw),
      });
      res.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/octet-stream' })
        .end(Buffer.from(await forwarded.arrayBuffer()));
      return;
    }
    if (status !== 200) {
      res.writeHead(status).end();
      return;
    }
    const type = req.headers['content-type'] ?? '';
    try {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      requests.push({ contentType: type, headers: req.headers, points: decodeMetricsRequest(body, type) });
      res.writeHead(200, { 'content-type': type.includes('json') ? 'application/json' : 'application/x-protobuf' }).end(type.includes('json') ? '{}' : undefined);
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    url: `${baseUrl}/v1/metrics`,
    tracesUrl: `${baseUrl}/v1/traces`,
    requests,
    points: () => requests.flatMap((r) => r.points),
    async waitFor(until, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let seen = 0;
      for (;;) {
        for (; seen < requests.length; seen++) if (until(requests[seen].points)) return requests[seen].points;
        if (Date.now() > deadline) throw new Error(`timed out waiting for metrics (${requests.length} requests received)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    respondWith(next) {
      status = next;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Decodes one ExportMetricsServiceRequest body (protobuf, or OTLP/JSON when `contentType` says json). */
export function decodeMetricsRequest(body: Uint8Array, contentType = 'application/x-protobuf'): ReceivedPoint[] {
  const json = contentType.includes('json');
  const decoded = json
    ? JSON.parse(Buffer.from(body).toString('utf8'))
    : Request.toObject(Request.decode(body), { longs: String, bytes: Buffer, oneofs: true });
  return flatten(decoded, json);
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function pick(headers: IncomingHttpHeaders, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) if (typeof headers[name] === 'string') out[name] = headers[name];
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function flatten(request: Any, json: boolean): ReceivedPoint[] {
  const out: ReceivedPoint[] = [];
  const id = (value: Any): string => (value === undefined || value === null ? '' : json ? String(value).toLowerCase() : Buffer.from(value).toString('hex'));
  const exemplars = (list: Any[] | undefined): ReceivedExemplar[] => (list ?? []).map((e) => ({
    traceId: id(e.traceId),
    spanId: id(e.spanId),
    value: Number(e.asDouble ?? e.asInt ?? 0),
    timeNs: BigInt(e.timeUnixNano ?? 0),
  }));
  for (const rm of request.resourceMetrics ?? []) {
    const resource = attributes(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const type = m.histogram !== undefined ? 'histogram' : m.sum !== undefined ? 'sum' : m.gauge !== undefined ? 'gauge' : undefined;
        if (type === undefined) continue;
        const data = m[type];
        for (const p of data.dataPoints ?? []) {
          out.push({
            metric: m.name,
            description: m.description ?? '',
            unit: m.unit ?? '',
            type,
            temporality: Number(data.aggregationTemporality ?? 0),
            monotonic: Boolean(data.isMonotonic),
            attributes: attributes(p.attributes),
            startNs: BigInt(p.startTimeUnixNano ?? 0),
            timeNs: BigInt(p.timeUnixNano ?? 0),
            value: Number(p.asDouble ?? p.asInt ?? 0),
            count: Number(p.count ?? 0),
            sum: p.sum === undefined || p.sum === null ? undefined : Number(p.sum),
            min: p.min === undefined || p.min === null ? undefined : Number(p.min),
            max: p.max === undefined || p.max === null ? undefined : Number(p.max),
            bucketCounts: (p.bucketCounts ?? []).map(Number),
            explicitBounds: (p.explicitBounds ?? []).map(Number),
            exemplars: exemplars(p.exemplars),
            resource,
            scope: sm.scope?.name ?? '',
          });
        }
      }
    }
  }
  return out;
}
