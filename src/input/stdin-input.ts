import type { Readable } from 'node:stream';
import { newInputCounters, type ChunkSink, type InputCounters, type LineInput } from './line-chunk.js';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter, type LineBatch } from './line-splitter.js';

/**
 * `--file -`: lines from standard input (or any byte stream) until it ends. Same splitting
 * as files (UTF-8 per complete line, the line cap); the unterminated last line is delivered
 * when the stream ends. The stream is paused while the sink is busy (backpressure reaches
 * the writer through the pipe). No resume positions: a stream cannot be re-read.
 */
export interface StdinInputOptions {
  /** Default `process.stdin`. */
  stream?: Readable;
  /** Default 'stdin'. */
  origin?: string;
  /** Default 4096. */
  maxLinesPerChunk?: number;
  maxLineBytes?: number;
}

export class StdinInput implements LineInput {
  readonly counters: InputCounters = newInputCounters();
  private readonly options: StdinInputOptions;

  constructor(options: StdinInputOptions = {}) {
    this.options = options;
  }

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    const stream = this.options.stream ?? process.stdin;
    const origin = this.options.origin ?? 'stdin';
    const maxLines = this.options.maxLinesPerChunk ?? 4096;
    const splitter = new LineSplitter(this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    // Byte offset of the next line in the stream, for error reports.
    let lineStart = 0;
    let consumed = 0;
    const emit = async (out: LineBatch): Promise<void> => {
      const startOffset = lineStart;
      lineStart = consumed - splitter.pendingBytes;
      this.counters.linesRead += out.lines.length;
      this.counters.linesTruncated += out.truncated.length;
      await sink({ lines: out.lines, origin, startOffset, ...(out.truncated.length > 0 ? { truncated: out.truncated } : {}) });
    };
    const onAbort = (): void => {
      stream.destroy();
    };
    if (signal.aborted) return;
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const data of stream) {
        const buf = typeof data === 'string' ? Buffer.from(data) : (data as Buffer);
        this.counters.bytesRead += buf.length;
        let i = 0;
        while (i < buf.length) {
          const out: LineBatch = { lines: [], truncated: [] };
          const from = i;
          i = splitter.push(buf, i, out, maxLines);
          consumed += i - from;
          if (out.lines.length > 0) await emit(out);
          if (signal.aborted) return;
        }
      }
      const last: LineBatch = { lines: [], truncated: [] };
      splitter.flush(last);
      if (last.lines.length > 0) await emit(last);
    } catch (err) {
      if (signal.aborted) return; // destroyed by the abort
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
