import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * An OTLP ExportTraceServiceRequest encoder specialised for the sidecar's spans.
 *
 * Why: in a worker's CPU profile (replay bench, 2 workers) the official
 * ProtobufTraceSerializer of @opentelemetry/otlp-transformer 0.301.0 was ~45 % of the
 * worker's CPU (hexToBinary allocating a Uint8Array per id ~10 %, serializeSpan ~7 %,
 * writeString ~5 %, writeAttributes ~4 %, a full size-estimation pass ~3 %, the
 * resource/scope grouping maps ~4 %, plus much of the ~11 % GC). This encoder writes one
 * pass into a reused scratch buffer: ids go from hex straight into the buffer, attribute
 * keys are encoded once, ASCII strings are copied with their lengths known up front, the
 * resource and scope are written once per request, and only the span length is
 * back-patched (2 bytes reserved, moved when it needs 1 or 3+). Measured the same way after
 * the change: ~20 % of a worker's (smaller) CPU, ~4x less time than the official serializer;
 * bench CPU per line -40 %.
 *
 * Contract: the output is byte-for-byte what `ProtobufTraceSerializer.serializeRequest`
 * returns for the same spans (same field order, same defaults written — dropped counts,
 * status code and span flags always, minimal varint lengths, the same varint/double choice
 * for numbers, the same UTF-8 for non-ASCII and lone surrogates). The tests
 * (test/deliver/otlp-span-protobuf.test.ts) compare the two over every span built from every
 * recorded fixture line and over edge cases.
 *
 * Anything this encoder does not handle makes it give up on the whole request and use the
 * official serializer instead, so correctness never rests on what the sidecar happens to
 * build: several resources or scopes in one batch, events, links, attribute values that are
 * not string/number/boolean (arrays, bytes, maps, null/undefined), a non-string name or
 * status message, or any exception while encoding.
 */

/** Encodes with the fast path when it can, otherwise with the official serializer. */
export function serializeTraceRequest(spans: ReadableSpan[]): Uint8Array {
  return encodeTraceRequest(spans) ?? officialSerialize(spans);
}

/** What the exporter uses: our request encoding, the official response decoding. */
export const SidecarProtobufTraceSerializer: ISerializer<ReadableSpan[], IExportTraceServiceResponse> = {
  serializeRequest: serializeTraceRequest,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};

/**
 * The fast path alone: the request bytes, or undefined when the batch holds something it
 * does not handle (see above). Exported for the tests.
 */
export function encodeTraceRequest(spans: readonly ReadableSpan[]): Uint8Array | undefined {
  try {
    return encoder.request(spans);
  } catch {
    // Unsupported input (thrown on purpose) or anything unexpected: the official serializer
    // decides, and throws itself if the input is really broken.
    encoder.reset();
    return undefined;
  }
}

function officialSerialize(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  // Typed `| undefined` by ISerializer; serializeTraceExportRequest always returns bytes.
  if (bytes === undefined) throw new Error('ProtobufTraceSerializer returned nothing');
  return bytes;
}

class Unsupported extends Error {}

// Tags (field << 3 | wire type) of the messages written here.
const TAG_RESOURCE_SPANS = 0x0a; // ExportTraceServiceRequest.resource_spans = 1, LEN
const TAG_RESOURCE = 0x0a; //       ResourceSpans.resource = 1, LEN
const TAG_SCOPE_SPANS = 0x12; //    ResourceSpans.scope_spans = 2, LEN
const TAG_SCHEMA_URL = 0x1a; //     ResourceSpans/ScopeSpans.schema_url = 3, LEN
const TAG_SCOPE = 0x0a; //          ScopeSpans.scope = 1, LEN
const TAG_SPAN = 0x12; //           ScopeSpans.spans = 2, LEN
const TAG_RESOURCE_ATTRIBUTE = 0x0a; // Resource.attributes = 1
const TAG_SCOPE_ATTRIBUTE = 0x1a; //    InstrumentationScope.attributes = 3
const TAG_SPAN_ATTRIBUTE = 0x4a; //     Span.attributes = 9
const MIN_64_BIT_INT = -(2 ** 63);
const MAX_64_BIT_INT = 2 ** 63;
/** Attribute keys kept encoded; beyond this many distinct keys they are encoded each time. */
const MAX_CACHED_KEYS = 4096;
/** A scratch buffer grown beyond this by one huge request is dropped after it. */
const MAX_KEPT_SCRATCH = 16 << 20;

/** hex-to-binary.ts's intValue for every char code below 128 (above: code - 55, as there). */
const HEX_VALUE = new Int32Array(128);
for (let c = 0; c < 128; c++) HEX_VALUE[c] = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c - 55;

const hasOwn = Object.prototype.hasOwnProperty;
const utf8 = new TextEncoder();

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Bytes ProtobufWriter.writeVarint writes for an integer in [-2^63, 2^63). */
function int64VarintSize(v: number): number {
  if (v < 0) return 10;
  let size = 1;
  let limit = 128;
  while (v >= limit && size < 9) {
    size++;
    limit *= 128;
  }
  return size;
}

class TraceRequestEncoder {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private pos = 0;
  private readonly keys = new Map<string, Uint8Array>();

  request(spans: readonly ReadableSpan[]): Uint8Array {
    // The official writer for an empty batch: new ProtobufWriter(0).finish().
    if (spans.length === 0) return new Uint8Array(0);
    const resource = spans[0].resource;
    const scope = spans[0].instrumentationScope;

    this.pos = 0;
    this.resource(resource);
    const resourceMessage = this.buf.slice(0, this.pos);
    this.pos = 0;
    this.scope(scope);
    const scopeMessage = this.buf.slice(0, this.pos);

    // Spans go after room for the largest header; the header is written right-aligned to them.
    const spansStart = 1 + 5 + resourceMessage.length + 1 + 5 + scopeMessage.length;
    this.pos = spansStart;
    this.ensure(0);
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i];
      if (span.resource !== resource || span.instrumentationScope !== scope) throw new Unsupported('several resources or scopes');
      this.ensure(1);
      this.buf[this.pos++] = TAG_SPAN;
      this.span(span);
    }
    if (scope.schemaUrl) {
      this.ensure(1);
      this.buf[this.pos++] = TAG_SCHEMA_URL;
      this.string(scope.schemaUrl);
    }
    const scopeSpansLength = scopeMessage.length + (this.pos - spansStart);
    const resourceTailStart = this.pos;
    if (resource.schemaUrl) {
      this.ensure(1);
      this.buf[this.pos++] = TAG_SCHEMA_URL;
      this.string(resource.schemaUrl);
    }
    const resourceSpansLength = resourceMessage.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength + (this.pos - resourceTailStart);
    const headerLength = 1 + varintSize(resourceSpansLength) + resourceMessage.length + 1 + varintSize(scopeSpansLength) + scopeMessage.length;

    const end = this.pos;
    const start = spansStart - headerLength;
    this.pos = start;
    this.buf[this.pos++] = TAG_RESOURCE_SPANS;
    this.uvarint(resourceSpansLength);
    this.buf.set(resourceMessage, this.pos);
    this.pos += resourceMessage.length;
    this.buf[this.pos++] = TAG_SCOPE_SPANS;
    this.uvarint(scopeSpansLength);
    this.buf.set(scopeMessage, this.pos);
    this.pos += scopeMessage.length;
    if (this.pos !== spansStart) throw new Error(`header length mismatch (${this.pos} != ${spansStart})`);

    // A copy: the transport keeps the request for retries and compression while we go on.
    const out = this.buf.slice(start, end);
    this.reset();
    return out;
  }

  reset(): void {
    this.pos = 0;
    if (this.buf.length > MAX_KEPT_SCRATCH) {
      this.buf = new Uint8Array(1 << 16);
      this.view = new DataView(this.buf.buffer);
    }
  }

  /** ResourceSpans.resource, tag included (common-serializer's writeResource). */
  private resource(resource: Resource): void {
    this.ensure(1);
    this.buf[this.pos++] = TAG_RESOURCE;
    const at = this.startLength();
    const attributes = resource.attributes;
    if (attributes) this.attributes(attributes, TAG_RESOURCE_ATTRIBUTE);
    this.ensure(2);
    this.buf[this.pos++] = 0x10; // dropped_attributes_count = 2: always 0 there
    this.buf[this.pos++] = 0;
    this.finishLength(at);
  }

  /** ScopeSpans.scope, tag included (common-serializer's writeInstrumentationScope). */
  private scope(scope: InstrumentationScope): void {
    const s = scope as InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number };
    this.ensure(3);
    this.buf[this.pos++] = TAG_SCOPE;
    const at = this.startLength();
    this.buf[this.pos++] = 0x0a; // name = 1
    this.string(s.name);
    if (s.version) {
      this.ensure(1);
      this.buf[this.pos++] = 0x12; // version = 2
      this.string(s.version);
    }
    if (s.attributes) this.attributes(s.attributes, TAG_SCOPE_ATTRIBUTE);
    if (s.droppedAttributesCount) {
      this.ensure(11);
      this.buf[this.pos++] = 0x20; // dropped_attributes_count = 4
      this.varint(s.droppedAttributesCount);
    }
    this.finishLength(at);
  }

  /** One Span message after its tag (trace-serializer's serializeSpan, field by field). */
  private span(span: ReadableSpan): void {
    const ctx = span.spanContext();
    this.ensure(2 + 1);
    // The span's length: two bytes reserved (128 B – 16 KiB, nearly every span), fixed below.
    const lengthAt = this.pos;
    this.pos += 2;
    const buf0 = this.buf;
    buf0[this.pos++] = 0x0a; // trace_id = 1
    this.hexBytes(ctx.traceId);
    this.ensure(1);
    this.buf[this.pos++] = 0x12; // span_id = 2
    this.hexBytes(ctx.spanId);
    const traceState = ctx.traceState?.serialize();
    if (traceState) {
      this.ensure(1);
      this.buf[this.pos++] = 0x1a; // trace_state = 3
      this.string(traceState);
    }
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      this.ensure(1);
      this.buf[this.pos++] = 0x22; // parent_span_id = 4
      this.hexBytes(parent.spanId);
    }
    this.ensure(1);
    this.buf[this.pos++] = 0x2a; // name = 5
    this.string(span.name);
    const kind = span.kind == null ? 0 : span.kind + 1;
    this.ensure(11 + 9 + 9);
    const buf = this.buf;
    if (kind !== 0) {
      buf[this.pos++] = 0x30; // kind = 6
      this.varint(kind);
    }
    buf[this.pos++] = 0x39; // start_time_unix_nano = 7
    this.hrTime(span.startTime);
    buf[this.pos++] = 0x41; // end_time_unix_nano = 8
    this.hrTime(span.endTime);
    if (span.attributes) this.attributes(span.attributes, TAG_SPAN_ATTRIBUTE);
    if (span.events.length !== 0) throw new Unsupported('events');
    if (span.links.length !== 0) throw new Unsupported('links');
    this.ensure(3 * 11 + 1);
    this.buf[this.pos++] = 0x50; // dropped_attributes_count = 10
    this.varint(span.droppedAttributesCount);
    this.buf[this.pos++] = 0x60; // dropped_events_count = 12
    this.varint(span.droppedEventsCount);
    this.buf[this.pos++] = 0x70; // dropped_links_count = 14
    this.varint(span.droppedLinksCount);
    this.status(span.status.message, span.status.code);
    // flags = 16 (fixed32): the trace flags, "has is_remote", and the parent's is_remote.
    const flags = ((ctx.traceFlags & 0xff) | 0x100 | (parent?.isRemote ? 0x200 : 0)) >>> 0;
    this.ensure(6);
    const b = this.buf;
    let p = this.pos;
    b[p++] = 0x85;
    b[p++] = 0x01;
    b[p++] = flags & 0xff;
    b[p++] = (flags >>> 8) & 0xff;
    b[p++] = (flags >>> 16) & 0xff;
    b[p++] = flags >>> 24;
    this.pos = p;
    this.finishSpanLength(lengthAt);
  }

  /** Span.status = 15 with its tag: message = 2 when not empty, code = 3 always. */
  private status(message: string | undefined, code: number): void {
    if (message) {
      if (typeof message !== 'string') throw new Unsupported('status message');
      this.ensure(3);
      this.buf[this.pos++] = 0x7a;
      const at = this.startLength();
      this.buf[this.pos++] = 0x12;
      this.string(message);
      this.ensure(11);
      this.buf[this.pos++] = 0x18;
      this.varint(code);
      this.finishLength(at);
      return;
    }
    this.ensure(2 + 11);
    this.buf[this.pos++] = 0x7a;
    const at = this.pos++;
    this.buf[this.pos++] = 0x18;
    this.varint(code);
    this.buf[at] = this.pos - at - 1;
  }

  /** repeated KeyValue under `tag`, in for-in order like common-serializer's writeAttributes. */
  private attributes(attributes: Attributes, tag: number): void {
    for (const key in attributes) {
      if (!hasOwn.call(attributes, key)) continue;
      const value = attributes[key];
      const keyBytes = this.key(key);
      const keyLength = keyBytes.length;
      if (typeof value === 'string') {
        this.stringAttribute(tag, keyBytes, value);
        continue;
      }
      let valueLength: number;
      let isVarint = false;
      if (typeof value === 'number') {
        if (Number.isInteger(value) && value >= MIN_64_BIT_INT && value < MAX_64_BIT_INT) {
          isVarint = true;
          valueLength = 1 + int64VarintSize(value);
        } else {
          valueLength = 9;
        }
      } else if (typeof value === 'boolean') {
        valueLength = 2;
      } else {
        throw new Unsupported('attribute value type');
      }
      const kvLength = keyLength + 2 + valueLength;
      this.ensure(1 + 5 + kvLength);
      const buf = this.buf;
      let p = this.pos;
      buf[p++] = tag;
      p = writeUvarint(buf, p, kvLength);
      for (let i = 0; i < keyLength; i++) buf[p++] = keyBytes[i];
      buf[p++] = 0x12; // KeyValue.value = 2
      buf[p++] = valueLength;
      const valueEnd = p + valueLength;
      if (typeof value === 'boolean') {
        buf[p++] = 0x10; // bool_value = 2
        buf[p++] = value ? 1 : 0;
        this.pos = p;
      } else if (isVarint) {
        buf[p++] = 0x18; // int_value = 3
        this.pos = p;
        this.varint(value as number);
      } else {
        buf[p++] = 0x21; // double_value = 4
        this.view.setFloat64(p, value as number, true);
        this.pos = p + 8;
      }
      if (this.pos !== valueEnd) throw new Error(`attribute ${key}: length mismatch`);
    }
  }

  /** KeyValue{key, AnyValue{string_value}}: lengths from the string's length, assuming ASCII. */
  private stringAttribute(tag: number, keyBytes: Uint8Array, value: string): void {
    const n = value.length;
    const keyLength = keyBytes.length;
    const anyLength = 1 + varintSize(n) + n;
    const kvLength = keyLength + 1 + varintSize(anyLength) + anyLength;
    this.ensure(1 + 5 + kvLength);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = tag;
    p = writeUvarint(buf, p, kvLength);
    for (let i = 0; i < keyLength; i++) buf[p++] = keyBytes[i];
    buf[p++] = 0x12; // KeyValue.value = 2
    p = writeUvarint(buf, p, anyLength);
    buf[p++] = 0x0a; // string_value = 1
    p = writeUvarint(buf, p, n);
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) {
        this.stringAttributeUtf8(tag, keyBytes, value);
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  private stringAttributeUtf8(tag: number, keyBytes: Uint8Array, value: string): void {
    const bytes = utf8.encode(value);
    const n = bytes.length;
    const anyLength = 1 + varintSize(n) + n;
    const kvLength = keyBytes.length + 1 + varintSize(anyLength) + anyLength;
    this.ensure(1 + 5 + kvLength);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = tag;
    p = writeUvarint(buf, p, kvLength);
    buf.set(keyBytes, p);
    p += keyBytes.length;
    buf[p++] = 0x12;
    p = writeUvarint(buf, p, anyLength);
    buf[p++] = 0x0a;
    p = writeUvarint(buf, p, n);
    buf.set(bytes, p);
    this.pos = p + n;
  }

  /** KeyValue.key = 1 with its tag and length, encoded once per distinct key. */
  private key(key: string): Uint8Array {
    let bytes = this.keys.get(key);
    if (bytes === undefined) {
      const text = utf8.encode(key);
      bytes = new Uint8Array(1 + varintSize(text.length) + text.length);
      bytes[0] = 0x0a;
      const p = writeUvarint(bytes, 1, text.length);
      bytes.set(text, p);
      if (this.keys.size < MAX_CACHED_KEYS) this.keys.set(key, bytes);
    }
    return bytes;
  }

  /** A length-delimited string (ProtobufWriter.writeString: ASCII as is, else TextEncoder). */
  private string(s: string): void {
    if (typeof s !== 'string') throw new Unsupported('not a string');
    const n = s.length;
    this.ensure(5 + n);
    const buf = this.buf;
    const start = this.pos;
    let p = writeUvarint(buf, start, n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        const bytes = utf8.encode(s);
        this.pos = start;
        this.ensure(5 + bytes.length);
        this.pos = writeUvarint(this.buf, start, bytes.length);
        this.buf.set(bytes, this.pos);
        this.pos += bytes.length;
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  /**
   * An id as bytes (hexToBinary: floor(length / 2) bytes, same value per character, also
   * for characters that are not hex), straight into the buffer.
   */
  private hexBytes(hex: string): void {
    const n = hex.length >>> 1;
    this.ensure(5 + n);
    const buf = this.buf;
    let p = writeUvarint(buf, this.pos, n);
    for (let i = 0; i < n; i++) {
      const h = hex.charCodeAt(2 * i);
      const l = hex.charCodeAt(2 * i + 1);
      buf[p++] = ((h < 128 ? HEX_VALUE[h] : h - 55) << 4) | (l < 128 ? HEX_VALUE[l] : l - 55);
    }
    this.pos = p;
  }

  /** common-serializer's writeHrTimeAsFixed64, to the bit. */
  private hrTime(hrTime: HrTime): void {
    const seconds = hrTime[0];
    const nanos = hrTime[1];
    const nanosPerSecond = 1e9;
    const secondsLower16Bits = seconds & 65535;
    const secondsUpperBits = (seconds / 65536) >>> 0;
    const nanosFromLower16Bits = secondsLower16Bits * nanosPerSecond;
    const nanosFromUpperBits = secondsUpperBits * nanosPerSecond;
    const lower16ContributionLow32 = nanosFromLower16Bits >>> 0;
    const lower16ContributionHigh32 = Math.floor(nanosFromLower16Bits / 4294967296);
    const upperBitsContributionLow32 = ((nanosFromUpperBits & 65535) * 65536) >>> 0;
    const upperBitsContributionHigh32 = (nanosFromUpperBits / 65536) >>> 0;
    const low32WithCarry = lower16ContributionLow32 + upperBitsContributionLow32 + nanos;
    const low = low32WithCarry >>> 0;
    const carry = Math.floor(low32WithCarry / 4294967296);
    const high = (lower16ContributionHigh32 + upperBitsContributionHigh32 + carry) >>> 0;
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = low & 255;
    buf[p++] = (low >>> 8) & 255;
    buf[p++] = (low >>> 16) & 255;
    buf[p++] = (low >>> 24) & 255;
    buf[p++] = high & 255;
    buf[p++] = (high >>> 8) & 255;
    buf[p++] = (high >>> 16) & 255;
    buf[p++] = (high >>> 24) & 255;
    this.pos = p;
  }

  /** ProtobufWriter.writeVarint, to the bit (negatives as 10-byte two's complement). Needs 10 bytes of room. */
  private varint(value: number): void {
    const buf = this.buf;
    if (value >= 0 && value <= 4294967295) {
      let v = value >>> 0;
      while (v > 127) {
        buf[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 4294967296) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = abs >>> 0;
      high = (abs / 4294967296) >>> 0;
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      buf[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 127;
  }

  private uvarint(v: number): void {
    this.pos = writeUvarint(this.buf, this.pos, v);
  }

  /** One byte reserved for a nested message's length (ProtobufWriter.startLengthDelimited). */
  private startLength(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** The length at `at`, moving the content when it needs more than the byte reserved. */
  private finishLength(at: number): void {
    const length = this.pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    writeUvarint(this.buf, at, length);
  }

  /** As finishLength, for the two bytes reserved for a span. */
  private finishSpanLength(at: number): void {
    const length = this.pos - at - 2;
    const size = varintSize(length);
    if (size !== 2) {
      this.ensure(size - 2);
      this.buf.copyWithin(at + size, at + 2, this.pos);
      this.pos += size - 2;
    }
    writeUvarint(this.buf, at, length);
  }

  private ensure(room: number): void {
    if (this.pos + room <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + room) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** A varint below 2^32 at `p`; returns the position after it. */
function writeUvarint(buf: Uint8Array, p: number, v: number): number {
  while (v > 127) {
    buf[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[p++] = v;
  return p;
}

const encoder = new TraceRequestEncoder();
