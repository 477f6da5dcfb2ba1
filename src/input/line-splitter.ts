/**
 * Bytes → lines. Splits on `\n` only (the bytes of a line are kept as they are, `\r`
 * included), decodes UTF-8 per complete line (so a multibyte character split across two
 * reads survives; invalid UTF-8 becomes U+FFFD), holds an unterminated last line until its
 * newline arrives (never flushed on a timer; `flush()` is for streams that ended), and
 * truncates lines longer than `maxLineBytes` to that many bytes (cut on a character
 * boundary) without ever holding more than `maxLineBytes` of one line in memory.
 */

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
/** Room for one UTF-8 character, which a cut never splits. */
export const MIN_MAX_LINE_BYTES = 4;

/** Where `push` puts complete lines. */
export interface LineBatch {
  lines: string[];
  /** Indices into `lines` of lines that were cut at the cap. */
  truncated: number[];
}

export class LineSplitter {
  readonly maxLineBytes: number;
  /** Lines cut at the cap so far. */
  linesTruncated = 0;
  /** Highest number of bytes of one partial line ever held (for tests: ≤ maxLineBytes). */
  maxHeldBytes = 0;

  /** Copies of the bytes of the unterminated line, at most `maxLineBytes` in all. */
  private parts: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes of the unterminated line seen but not held (it is over the cap). */
  private droppedBytes = 0;

  constructor(maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    if (!(maxLineBytes >= MIN_MAX_LINE_BYTES)) throw new RangeError(`maxLineBytes must be at least ${MIN_MAX_LINE_BYTES}`);
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Bytes consumed since the end of the last complete line (held or dropped): the resume
   * offset of the lines emitted so far is `offsetOfConsumedEnd - pendingBytes`.
   */
  get pendingBytes(): number {
    return this.heldBytes + this.droppedBytes;
  }

  /**
   * Consumes `buf[start..]`, appending complete lines to `out`, and stops right after the
   * newline that makes `out.lines.length` reach `maxLines`. Returns the index in `buf`
   * where it stopped: `buf.length` when everything was consumed (a trailing partial line is
   * then held, copied, so `buf` may be reused), or the index just after a newline (nothing
   * held) when the line limit was reached.
   */
  push(buf: Buffer, start: number, out: LineBatch, maxLines = Infinity): number {
    const end = buf.length;
    const cap = this.maxLineBytes;
    let i = start;
    if (out.lines.length >= maxLines) return i;

    if (this.heldBytes > 0 || this.droppedBytes > 0) {
      const nl = buf.indexOf(10, i);
      if (nl === -1) {
        this.hold(buf, i, end);
        return end;
      }
      this.hold(buf, i, nl);
      this.emitHeld(out);
      i = nl + 1;
    }

    const lines = out.lines;
    while (lines.length < maxLines) {
      const nl = buf.indexOf(10, i);
      if (nl === -1) break;
      if (nl - i <= cap) {
        lines.push(buf.toString('utf8', i, nl));
      } else {
        const cut = utf8Cut(buf, i, i + cap);
        out.truncated.push(lines.length);
        lines.push(buf.toString('utf8', i, cut));
        this.linesTruncated++;
      }
      i = nl + 1;
    }
    if (lines.length >= maxLines) return i;
    if (i < end) this.hold(buf, i, end);
    return end;
  }

  /** The stream ended: returns its unterminated last line, if any (not for files being followed). */
  flush(out: LineBatch): void {
    if (this.heldBytes > 0 || this.droppedBytes > 0) this.emitHeld(out);
  }

  /** Forgets the partial line (the file was truncated or replaced). */
  reset(): void {
    this.parts = [];
    this.heldBytes = 0;
    this.droppedBytes = 0;
  }

  private hold(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    const room = this.maxLineBytes - this.heldBytes;
    const take = Math.min(room, n);
    if (take > 0) {
      this.parts.push(Buffer.from(buf.subarray(from, from + take)));
      this.heldBytes += take;
      if (this.heldBytes > this.maxHeldBytes) this.maxHeldBytes = this.heldBytes;
    }
    this.droppedBytes += n - take;
  }

  private emitHeld(out: LineBatch): void {
    const whole = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.heldBytes);
    if (this.droppedBytes > 0) {
      out.truncated.push(out.lines.length);
      out.lines.push(whole.toString('utf8', 0, utf8Cut(whole, 0, whole.length)));
      this.linesTruncated++;
    } else {
      out.lines.push(whole.toString('utf8'));
    }
    this.reset();
  }
}

/**
 * Where to cut `buf[from..to)` (the bytes kept of an over-long line, the line going on
 * past `to`) so that the last multibyte character is not split: `to`, or the start of an
 * incomplete UTF-8 sequence at its end.
 */
export function utf8Cut(buf: Buffer, from: number, to: number): number {
  let lead = to - 1;
  const stop = Math.max(from, to - 4);
  while (lead >= stop && (buf[lead] & 0xc0) === 0x80) lead--;
  if (lead < stop) return to; // no lead byte in reach: invalid anyway, keep the bytes
  const b = buf[lead];
  const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return lead + len > to ? lead : to;
}
