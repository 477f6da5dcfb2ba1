import type { LineChunk } from '../input/line-chunk.js';

/**
 * Tells the operator about malformed lines without flooding the log: the first few in
 * full (file, byte offset, reason, the start of the line), then one summary per interval.
 */
export class MalformedLineReporter {
  private reportedInWindow = 0;
  private suppressed = 0;
  private windowStart = 0;
  /** Ends the window with its summary, if no later report does it first. */
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: (message: string) => void,
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  report(chunk: LineChunk, index: number, reason: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.summarise();
      this.windowStart = now;
      this.reportedInWindow = 0;
    }
    if (this.reportedInWindow >= this.perWindow) {
      this.suppressed++;
      this.summaryTimer ??= setTimeout(() => this.summarise(), this.windowStart + this.windowMs - now).unref();
      return;
    }
    this.reportedInWindow++;
    const line = chunk.lines[index];
    const where = chunk.startOffset === undefined ? chunk.origin : `${chunk.origin} at byte ${lineOffset(chunk, index)}`;
    const preview = line.length > 120 ? `${line.slice(0, 120)}…` : line;
    this.log(`malformed line in ${where}: ${reason}: ${JSON.stringify(preview)}`);
  }

  /** Logs how many malformed lines went unshown since the last summary (at a window's end, and at shutdown). */
  summarise(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.suppressed > 0) this.log(`${this.suppressed} more malformed line${this.suppressed === 1 ? '' : 's'} in the last ${this.windowMs / 1000} s (not shown)`);
    this.suppressed = 0;
  }
}

/** Byte offset of line `index` of a file chunk, for reports only (malformed lines are rare); approximate after a truncated line or invalid UTF-8, whose bytes the string no longer has. */
function lineOffset(chunk: LineChunk, index: number): number {
  let offset = chunk.startOffset ?? 0;
  for (let i = 0; i < index; i++) offset += Buffer.byteLength(chunk.lines[i]) + 1;
  return offset;
}
