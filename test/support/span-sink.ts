/**
 * A cheap OTLP/HTTP protobuf traces receiver for the fault tests: hundreds of thousands of
 * spans, counted per `nginx.request_id` without building JS objects for them. Each span's
 * protobuf bytes are hashed, so a span sent twice can be checked to be byte-identical
 * (same ids, timestamps, attributes). It can play a collector that is down: `down()` closes
 * the port (connection refused), `respondWith(503)` answers with an error, `up()` listens
 * again on the same port.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { registerCleanup } from './cleanup.ts';

export interface SinkSpan {
  requestId: string;
  /** 1 internal, 2 server, 3 client */
  kind: number;
  spanId: string;
  /** sha1 of the span's protobuf bytes, base64 */
  hash: string;
}

export interface SpanSink {
  url: string;
  port: number;
  /** Every span received, in arrival order (duplicates included). */
  spans: SinkSpan[];
  /** SERVER spans received per nginx.request_id. */
  serverCount: Map<string, number>;
  /** Requests answered 200 / with an error status / refused while down (not counted). */
  accepted: number;
  refused: number;
  respondWith(status: number): void;
  /** Stop listening (and drop open connections): the collector is away. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  waitForServerSpans(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSpanSink(port = 0): Promise<SpanSink> {
  let status = 200;
  let server: Server | undefined;
  const sink: SpanSink = {
    url: '',
    port,
    spans: [],
    serverCount: new Map(),
    accepted: 0,
    refused: 0,
    respondWith(next) {
      status = next;
    },
    async down() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
    async up() {
      if (server !== undefined) return;
      const s = createServer((req, res) => void handle(req, res));
      s.keepAliveTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(sink.port, '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
      sink.port = (s.address() as AddressInfo).port;
      sink.url = `http://127.0.0.1:${sink.port}/v1/traces`;
    },
    async waitForServerSpans(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.serverCount.size < count) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} requests' spans (have ${sink.serverCount.size})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: async () => {
      await sink.down();
      cleanup.cancel();
    },
  };
  const cleanup = registerCleanup('span sink', () => server?.close());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    if (status !== 200) {
      sink.refused++;
      res.writeHead(status).end();
      return;
    }
    let body = Buffer.concat(parts);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    if (!String(req.headers['content-type']).includes('protobuf')) {
      res.writeHead(415).end('protobuf only');
      return;
    }
    try {
      for (const span of decodeSpans(body)) {
        sink.spans.push(span);
        if (span.kind === 2) sink.serverCount.set(span.requestId, (sink.serverCount.get(span.requestId) ?? 0) + 1);
      }
      sink.accepted++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  }

  await sink.up();
  return sink;
}

// --- a minimal protobuf walker over ExportTraceServiceRequest ----------------------------

class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('bad varint');
    }
  }
  /** Reads a field tag; returns [field, wireType]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }
  /** For wire type 2: [start, end) of the bytes. */
  len(): [number, number] {
    const n = this.varint();
    const start = this.pos;
    this.pos += n;
    if (this.pos > this.end) throw new Error('truncated message');
    return [start, this.pos];
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.len();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Each field `field` (length-delimited) of the message in [start, end). */
function* children(buf: Buffer, start: number, end: number, field: number): Generator<[number, number]> {
  const r = new Reader(buf, start, end);
  while (!r.done) {
    const [f, wire] = r.tag();
    if (f === field && wire === 2) yield r.len();
    else r.skip(wire);
  }
}

export function decodeSpans(body: Buffer): SinkSpan[] {
  const out: SinkSpan[] = [];
  for (const [rs, rsEnd] of children(body, 0, body.length, 1)) {
    for (const [ss, ssEnd] of children(body, rs, rsEnd, 2)) {
      for (const [sp, spEnd] of children(body, ss, ssEnd, 2)) out.push(decodeSpan(body, sp, spEnd));
    }
  }
  return out;
}

function decodeSpan(buf: Buffer, start: number, end: number): SinkSpan {
  const r = new Reader(buf, start, end);
  let kind = 0;
  let spanId = '';
  let requestId = '';
  while (!r.done) {
    const [f, wire] = r.tag();
    if (f === 2 && wire === 2) {
      const [a, b] = r.len();
      spanId = buf.toString('hex', a, b);
    } else if (f === 6 && wire === 0) {
      kind = r.varint();
    } else if (f === 9 && wire === 2) {
      const [a, b] = r.len();
      const kv = keyValue(buf, a, b);
      if (kv !== undefined && kv[0] === 'nginx.request_id') requestId = kv[1];
    } else {
      r.skip(wire);
    }
  }
  return { requestId, kind, spanId, hash: createHash('sha1').update(buf.subarray(start, end)).digest('base64') };
}

/** A KeyValue whose value is a string: [key, value]. */
function keyValue(buf: Buffer, start: number, end: number): [string, string] | undefined {
  const r = new Reader(buf, start, end);
  let key = '';
  let value: string | undefined;
  while (!r.done) {
    const [f, wire] = r.tag();
    if (f === 1 && wire === 2) {
      const [a, b] = r.len();
      key = buf.toString('utf8', a, b);
    } else if (f === 2 && wire === 2) {
      const [a, b] = r.len();
      for (const [s, e] of children(buf, a, b, 1)) value = buf.toString('utf8', s, e);
    } else {
      r.skip(wire);
    }
  }
  return value === undefined ? undefined : [key, value];
}
