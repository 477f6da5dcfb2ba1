// The sidecar's protobuf span encoder against the official ProtobufTraceSerializer, byte for
// byte: over the spans of every recorded fixture line, over awkward values, and over what it
// must hand to the official serializer (fallback). Plus the exporter built around it against
// the OTLPTraceExporter of exporter-trace-otlp-proto (and -http, for JSON) on the wire.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, type Attributes, type SpanContext } from '@opentelemetry/api';
import { ExportResultCode, TraceState, type InstrumentationScope } from '@opentelemetry/core';
import { OTLPTraceExporter as OfficialJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSpanExporter } from '../../src/deliver/exporter-factory.js';
import { OtlpSpanExporter } from '../../src/deliver/otlp-span-exporter.js';
import { encodeTraceRequest, serializeTraceRequest, SidecarProtobufTraceSerializer } from '../../src/deliver/otlp-span-protobuf.js';
import { LogSpan, UNSET, spanContext } from '../../src/model/log-span.js';
import { RequestSpanModel } from '../../src/model/request-spans.js';
import { sidecarResource } from '../../src/model/resource.js';
import { JsonLineParser } from '../../src/parse/json-line-parser.js';
import { VERSION } from '../../src/version.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);
// Every JSON fixture: the *.json.log ones, and the escape=default copy of escapes.json.log.
const FIXTURE_FILES = readdirSync(FIXTURES).filter((f) => f.endsWith('.json.log') || f === 'escapes.default.log').sort();

function official(spans: ReadableSpan[]): Uint8Array {
  return ProtobufTraceSerializer.serializeRequest(spans)!;
}

/** Equal bytes, or a failure naming the first differing offset (a diff of 100 kB arrays says nothing). */
function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  expect(actual, `${what}: fast path refused`).toBeDefined();
  const a = Buffer.from(actual!.buffer, actual!.byteOffset, actual!.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return;
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  expect.fail(`${what}: ${a.length} vs ${e.length} bytes, first difference at ${i}: `
    + `ours …${a.subarray(Math.max(0, i - 8), i + 8).toString('hex')}… official …${e.subarray(Math.max(0, i - 8), i + 8).toString('hex')}…`);
}

/** The fast path takes the batch and writes the official bytes. */
function expectFastAndEqual(spans: ReadableSpan[], what: string): void {
  const expected = official(spans);
  expectSameBytes(encodeTraceRequest(spans), expected, what);
  expectSameBytes(SidecarProtobufTraceSerializer.serializeRequest(spans), expected, `${what} (serializer)`);
}

/** The fast path refuses the batch, and the serializer still gives the official bytes. */
function expectFallbackAndEqual(spans: ReadableSpan[], what: string): void {
  expect(encodeTraceRequest(spans), `${what}: fast path should refuse`).toBeUndefined();
  expectSameBytes(serializeTraceRequest(spans), official(spans), what);
}

interface FixtureLine {
  file: string;
  line: number;
  spans: LogSpan[];
}

/** Every line of every fixture, as the CLI's default parser and the span model see it. */
function fixtureLines(model: RequestSpanModel): FixtureLine[] {
  const parser = new JsonLineParser();
  const out: FixtureLine[] = [];
  for (const file of FIXTURE_FILES) {
    const lines = readFileSync(new URL(file, FIXTURES), 'utf8').split('\n').filter((l) => l !== '');
    lines.forEach((text, i) => {
      const spans: LogSpan[] = [];
      model.spans(parser.parse(text), spans);
      out.push({ file, line: i + 1, spans });
    });
  }
  return out;
}

const scope: InstrumentationScope = { name: 'nginx-otel-sidecar', version: VERSION };
const sidecarModel = new RequestSpanModel({ resource: sidecarResource(), scope });

describe('encodeTraceRequest on the recorded fixtures', () => {
  const lines = fixtureLines(sidecarModel);
  const allSpans = lines.flatMap((l) => l.spans);

  it('reads every fixture line', () => {
    expect(FIXTURE_FILES.length).toBeGreaterThanOrEqual(11);
    expect(FIXTURE_FILES).toContain('escapes.json.log');
    expect(FIXTURE_FILES).toContain('unix-socket.json.log');
    for (const file of FIXTURE_FILES) expect(lines.some((l) => l.file === file), file).toBe(true);
  });

  it('covers what the sidecar builds (so equality below means something)', () => {
    const has = (what: string, test: (s: LogSpan) => boolean) => expect(allSpans.some(test), what).toBe(true);
    has('a traceState', (s) => s.spanContext().traceState !== undefined);
    has('a remote parent', (s) => s.parentSpanContext?.isRemote === true);
    has('a root span', (s) => s.parentSpanContext === undefined);
    has('trace flags 00', (s) => s.spanContext().traceFlags === 0);
    has('ERROR with a message', (s) => s.status.code === SpanStatusCode.ERROR && !!s.status.message);
    has('a CLIENT span', (s) => s.kind === SpanKind.CLIENT);
    has('an INTERNAL span', (s) => s.kind === SpanKind.INTERNAL);
    has('a retry', (s) => s.attributes['http.request.resend_count'] !== undefined);
    has('a unix socket', (s) => Object.values(s.attributes).some((v) => typeof v === 'string' && v.includes('unix')));
    has('non-ASCII text', (s) => Object.values(s.attributes).some((v) => typeof v === 'string' && /[^\x00-\x7f]/.test(v)));
    has('a boolean', (s) => Object.values(s.attributes).some((v) => typeof v === 'boolean'));
    has('an integral number', (s) => Object.values(s.attributes).some((v) => typeof v === 'number' && Number.isInteger(v)));
    has('a fractional number', (s) => Object.values(s.attributes).some((v) => typeof v === 'number' && !Number.isInteger(v)));
  });

  it('writes the official bytes for each line on its own', () => {
    for (const { file, line, spans } of lines) expectFastAndEqual(spans, `${file}:${line}`);
  });

  it('writes the official bytes for each fixture as one batch, and all of them as one', () => {
    for (const file of FIXTURE_FILES) expectFastAndEqual(lines.filter((l) => l.file === file).flatMap((l) => l.spans), file);
    expect(official(allSpans).length).toBeGreaterThan(1 << 16); // grows the scratch buffer
    expectFastAndEqual(allSpans, 'all fixtures');
    expectFastAndEqual(allSpans.slice(0, 2048), 'a full batch (2048 spans)');
  });

  it('writes the official bytes with url.query recorded and with other resources', () => {
    const withQuery = fixtureLines(new RequestSpanModel({ resource: sidecarResource(), scope, recordQuery: true })).flatMap((l) => l.spans);
    expectFastAndEqual(withQuery, 'recordQuery');
    const named = fixtureLines(new RequestSpanModel({ resource: sidecarResource('édge-✓ ' + 'x'.repeat(200)), scope: { name: 's' } })).flatMap((l) => l.spans);
    expectFastAndEqual(named, 'non-ASCII service name, scope without version');
    const schema = fixtureLines(new RequestSpanModel({
      resource: resourceFromAttributes({ 'service.name': 'nginx' }, { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' }),
      scope: { name: 'nginx-otel-sidecar', version: VERSION, schemaUrl: 'https://opentelemetry.io/schemas/1.31.0' },
    })).flatMap((l) => l.spans);
    expectFastAndEqual(schema, 'resource and scope schema URLs');
  });

  it('returns a fresh array each time (the transport keeps it for retries)', () => {
    const first = encodeTraceRequest(lines[0].spans)!;
    const copy = Uint8Array.from(first);
    encodeTraceRequest(allSpans);
    expect(Buffer.from(first).equals(Buffer.from(copy))).toBe(true);
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.byteLength);
  });
});

// Hand-made spans: a LogSpan with anything overridden (events, links, odd fields).
const resource = sidecarResource();
const traceId = '0af7651916cd43dd8448eb211c80319c';

function makeSpan(attributes: Attributes, overrides: Partial<Record<keyof ReadableSpan, unknown>> = {}, ctx?: SpanContext, parent?: SpanContext): ReadableSpan {
  const base = new LogSpan('GET', SpanKind.SERVER, ctx ?? spanContext(traceId, 'b7ad6b7169203331', 1), parent,
    1795710514488123, 1795710515503456, attributes, UNSET, resource, scope);
  return Object.keys(overrides).length === 0 ? base : Object.assign(Object.create(base) as ReadableSpan, overrides);
}

describe('encodeTraceRequest on awkward but supported values', () => {
  it('numbers: varint or double exactly as the official writer chooses', () => {
    const values = [0, -0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 53 - 1, 2 ** 53, 2 ** 56, 2 ** 62,
      2 ** 63 - 2048, 2 ** 63, 2 ** 64, -1, -128, -(2 ** 31), -(2 ** 32), -(2 ** 53), -(2 ** 63), -(2 ** 63) - 4096,
      0.5, -0.25, 1.015, 1e-300, 1e300, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity];
    const attributes: Attributes = {};
    values.forEach((v, i) => { attributes[`n${i}`] = v; });
    expectFastAndEqual([makeSpan(attributes)], 'numbers');
    for (const v of values) expectFastAndEqual([makeSpan({ v })], `number ${v}`);
  });

  it('strings: empty, long, non-ASCII, lone surrogates, control characters, odd keys', () => {
    const strings = ['', 'a', 'x'.repeat(127), 'x'.repeat(128), 'y'.repeat(16_383), 'y'.repeat(16_384), 'z'.repeat(3_000_000),
      'é', 'é'.repeat(64), '日本語', '😀 emoji', '\ud800', 'a\udc00b', '\ud83d', '\u0000\t\u001b\u007f', '\u0080', '\uffff',
      'mostly ascii then ü'.padStart(300, '-')];
    for (const s of strings) {
      expectFastAndEqual([makeSpan({ s })], `value ${JSON.stringify(s.slice(0, 20))} (${s.length})`);
      expectFastAndEqual([makeSpan({ [s]: 1 })], `key ${JSON.stringify(s.slice(0, 20))} (${s.length})`);
    }
    expectFastAndEqual([makeSpan({ b1: true, b0: false, 2: 'integer-like keys come first', 1: 'x', z: 'y' })], 'key order');
    expectFastAndEqual([makeSpan({})], 'no attributes');
  });

  it('span sizes needing 1, 2 and 3+ length bytes; names, status messages and trace states', () => {
    expectFastAndEqual([makeSpan({}, { name: '' })], 'tiny span');
    expectFastAndEqual([makeSpan({ ua: 'u'.repeat(40_000) })], 'huge span');
    expectFastAndEqual([makeSpan({}, { name: 'ñ'.repeat(100), status: { code: SpanStatusCode.ERROR, message: 'm'.repeat(200) } })], 'long name/message');
    expectFastAndEqual([makeSpan({}, { status: { code: SpanStatusCode.ERROR, message: '' } })], 'ERROR without a message');
    expectFastAndEqual([makeSpan({}, { status: { code: SpanStatusCode.OK } })], 'OK');
    const ts = new TraceState('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    expectFastAndEqual([makeSpan({}, {}, spanContext(traceId, 'b7ad6b7169203331', 0, ts),
      { traceId, spanId: '00f067aa0ba902b7', traceFlags: 0, isRemote: true, traceState: ts })], 'traceState, remote parent, flags 00');
    expectFastAndEqual([makeSpan({}, {}, spanContext(traceId, 'b7ad6b7169203331', 1, new TraceState('')))], 'empty traceState');
    expectFastAndEqual([makeSpan({}, { kind: SpanKind.PRODUCER })], 'kind');
    expectFastAndEqual([makeSpan({}, { droppedAttributesCount: 3, droppedEventsCount: 300, droppedLinksCount: 2 ** 40 })], 'dropped counts');
    expectFastAndEqual([makeSpan({}, { startTime: [0, 0], endTime: [4294967295, 999999999] })], 'extreme times');
    expectFastAndEqual([makeSpan({}, { startTime: [1795710514, 488123456.5], endTime: [1795710514.25, 1] })], 'non-integral times');
  });

  it('ids: uppercase, odd length, not hex, empty parent id', () => {
    for (const [t, s, p] of [
      ['0AF7651916CD43DD8448EB211C80319C', 'B7AD6B7169203331', '00F067AA0BA902B7'],
      ['0af7651916cd43dd8448eb211c80319', 'b7ad6b716920333', 'abc'],
      ['zz-not-hex!€', '', 'g'],
      [traceId, 'b7ad6b7169203331', ''],
    ]) {
      expectFastAndEqual([makeSpan({}, {}, spanContext(t, s, 1), { traceId: t, spanId: p, traceFlags: 1, isRemote: false })], `ids ${t}/${s}/${p}`);
    }
  });

  it('scopes with attributes, an empty name and dropped counts; resources with no attributes', () => {
    const scoped = { name: '', version: '', attributes: { a: 1, b: 'é' }, droppedAttributesCount: 2 } as InstrumentationScope;
    const spans = [makeSpan({}, { instrumentationScope: scoped }), makeSpan({}, { instrumentationScope: scoped })];
    expectFastAndEqual(spans, 'scope');
    const bare = resourceFromAttributes({});
    expectFastAndEqual([makeSpan({}, { resource: bare })], 'resource without attributes');
  });
});

describe('encodeTraceRequest hands over to the official serializer', () => {
  it('for an empty batch gives what the official one gives (no bytes)', () => {
    expect(official([]).length).toBe(0);
    expectFastAndEqual([], 'empty batch');
  });

  it('for events, links, several resources or scopes, and non-flat attribute values', () => {
    const ok = makeSpan({ a: 1 });
    expectFallbackAndEqual([ok, makeSpan({}, { events: [{ name: 'e', time: [1, 2], attributes: { k: 'v' } }] })], 'events');
    expectFallbackAndEqual([makeSpan({}, { links: [{ context: spanContext(traceId, 'b7ad6b7169203331', 1), attributes: { k: 1 } }] }), ok], 'links');
    expectFallbackAndEqual([ok, makeSpan({}, { resource: resourceFromAttributes({ 'service.name': 'other' }) })], 'a second resource');
    expectFallbackAndEqual([ok, makeSpan({}, { instrumentationScope: { name: 'other' } })], 'a second scope');
    expectFallbackAndEqual([ok, makeSpan({}, { instrumentationScope: { ...scope } })], 'an equal but different scope object');
    for (const [what, value] of [['array', ['a', 1]], ['null', null], ['undefined', undefined], ['bytes', new Uint8Array([1, 2])], ['map', { k: 'v' }]] as const) {
      expectFallbackAndEqual([ok, makeSpan({ x: 'y', v: value as never })], `${what} attribute`);
    }
    // The encoder is usable again after a refusal.
    expectFastAndEqual([ok], 'after fallbacks');
  });

  it('throws as the official serializer does for spans that are not spans', () => {
    const broken = makeSpan({}, { events: undefined });
    expect(() => official([broken])).toThrow();
    expect(encodeTraceRequest([broken])).toBeUndefined();
    expect(() => serializeTraceRequest([broken])).toThrow();
  });
});

describe('OtlpSpanExporter', () => {
  interface Received { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function send(exporter: SpanExporter, spans: ReadableSpan[]): Promise<Received> {
    received.length = 0;
    const result = await new Promise<{ code: ExportResultCode }>((resolve) => exporter.export(spans, resolve));
    await exporter.shutdown();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(received).toHaveLength(1);
    return received[0];
  }

  function withEnv<T>(env: Record<string, string>, f: () => T): T {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      return f();
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }

  it('sends what exporter-trace-otlp-proto sends: path, headers from the environment, gzip, body', async () => {
    const spans = fixtureLines(sidecarModel).flatMap((l) => l.spans).slice(0, 300);
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: base,
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-tenant=acme,authorization=Bearer%20t0ken',
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
    };
    const ours = await send(withEnv(env, () => new OtlpSpanExporter('protobuf', { concurrencyLimit: 5 })), spans);
    const theirs = await send(withEnv(env, () => new OTLPTraceExporter({ concurrencyLimit: 5 })), spans);
    expect(ours.method).toBe('POST');
    expect(ours.url).toBe('/v1/traces');
    expect(ours.url).toBe(theirs.url);
    const { host: _h1, ...ourHeaders } = ours.headers;
    const { host: _h2, ...theirHeaders } = theirs.headers;
    expect(ourHeaders).toEqual(theirHeaders);
    expect(ourHeaders['content-type']).toBe('application/x-protobuf');
    expect(ourHeaders['content-encoding']).toBe('gzip');
    expect(ourHeaders['x-tenant']).toBe('acme');
    expect(gunzipSync(ours.body).equals(gunzipSync(theirs.body))).toBe(true);
    expect(gunzipSync(ours.body).equals(Buffer.from(official(spans)))).toBe(true);
  });

  it('sends to an explicit url uncompressed by default', async () => {
    const spans = fixtureLines(sidecarModel).flatMap((l) => l.spans).slice(0, 10);
    const ours = await send(new OtlpSpanExporter('protobuf', { url: `${base}/custom/path` }), spans);
    expect(ours.url).toBe('/custom/path');
    expect(ours.headers['content-encoding']).toBeUndefined();
    expect(ours.body.equals(Buffer.from(official(spans)))).toBe(true);
  });

  it('sends what exporter-trace-otlp-http sends with JSON: path, headers, body', async () => {
    const spans = fixtureLines(sidecarModel).flatMap((l) => l.spans).slice(0, 100);
    const ours = await send(new OtlpSpanExporter('json', { url: `${base}/v1/traces` }), spans);
    const theirs = await send(new OfficialJsonExporter({ url: `${base}/v1/traces` }), spans);
    const { host: _h1, ...ourHeaders } = ours.headers;
    const { host: _h2, ...theirHeaders } = theirs.headers;
    expect(ourHeaders).toEqual(theirHeaders);
    expect(ourHeaders['content-type']).toBe('application/json');
    expect(ours.body.equals(theirs.body)).toBe(true);
  });

  it('reads an empty or blank protocol variable as unset, as the specification says', async () => {
    const spans = fixtureLines(sidecarModel).flatMap((l) => l.spans).slice(0, 3);
    const json = await send(createSpanExporter({ kind: 'otlp', endpoint: `${base}/v1/traces`, concurrencyLimit: 5 }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: '', OTEL_EXPORTER_OTLP_PROTOCOL: ' http/json ' }), spans);
    expect(json.headers['content-type']).toBe('application/json');
    const protobuf = await send(createSpanExporter({ kind: 'otlp', endpoint: `${base}/v1/traces`, concurrencyLimit: 5 }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: '  ' }), spans);
    expect(protobuf.headers['content-type']).toBe('application/x-protobuf');
  });
});
