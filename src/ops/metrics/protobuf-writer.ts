/**
 * The protobuf wire format, as much as an OTLP metrics request needs: varints, fixed64,
 * doubles, strings, bytes and nested messages (written to a sub-writer, then length-prefixed;
 * a metrics request is a few kilobytes every few seconds, so the copies do not matter).
 */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const utf8 = new TextEncoder();

export class ProtobufWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private pos = 0;

  finish(): Uint8Array {
    return this.buffer.slice(0, this.pos);
  }

  /** A nested message: whatever `write` writes to its own writer, length-prefixed. */
  message(field: number, write: (writer: ProtobufWriter) => void): void {
    const sub = new ProtobufWriter();
    write(sub);
    this.bytes(field, sub.finish());
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(data.length);
    this.reserve(data.length);
    this.buffer.set(data, this.pos);
    this.pos += data.length;
  }

  string(field: number, text: string): void {
    this.bytes(field, utf8.encode(text));
  }

  double(field: number, value: number): void {
    this.tag(field, FIXED64);
    this.reserve(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  fixed64(field: number, value: bigint): void {
    this.tag(field, FIXED64);
    this.reserve(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, value), true);
    this.pos += 8;
  }

  /** sfixed64 has the same bytes as fixed64 (two's complement). */
  sfixed64(field: number, value: bigint): void {
    this.fixed64(field, value);
  }

  /** uint32/uint64/bool/enum, and int64 (negative values as ten-byte two's complement). */
  uint(field: number, value: number | bigint): void {
    this.tag(field, VARINT);
    if (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER) this.varint(value);
    else this.varint64(BigInt.asUintN(64, BigInt(value)));
  }

  /** A packed repeated fixed64 field. */
  packedFixed64(field: number, values: readonly number[]): void {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(values.length * 8);
    this.reserve(values.length * 8);
    for (const v of values) {
      this.view.setBigUint64(this.pos, BigInt(v), true);
      this.pos += 8;
    }
  }

  /** A packed repeated double field. */
  packedDouble(field: number, values: readonly number[]): void {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(values.length * 8);
    this.reserve(values.length * 8);
    for (const v of values) {
      this.view.setFloat64(this.pos, v, true);
      this.pos += 8;
    }
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private varint(value: number): void {
    this.reserve(10);
    while (value > 127) {
      this.buffer[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buffer[this.pos++] = value;
  }

  private varint64(value: bigint): void {
    this.reserve(10);
    while (value > 127n) {
      this.buffer[this.pos++] = Number(value & 127n) | 128;
      value >>= 7n;
    }
    this.buffer[this.pos++] = Number(value);
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.pos));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}
