/**
 * A progress indicator on stderr for long analyses: one self-overwriting line on a
 * terminal, or a plain line every few seconds when forced onto a non-terminal
 * (`--progress` with stderr redirected). Throttled, so calling it often is cheap.
 */
import { formatCount } from './format.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressTick {
  /** Index (0-based) and count of inputs, and the current one's name. */
  input: number;
  inputs: number;
  name: string;
  lines: number;
  /** Bytes of the current input consumed so far, and its size when known. */
  bytes: number;
  size?: number;
}

export class Progress {
  private lastWrite = 0;
  private readonly started = Date.now();
  private wrote = false;
  private readonly interval: number;

  constructor(private readonly stream: ProgressStream, private readonly enabled: boolean) {
    this.interval = stream.isTTY === true ? 200 : 5000;
  }

  tick(t: ProgressTick): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastWrite < this.interval) return;
    this.lastWrite = now;
    const seconds = (now - this.started) / 1000;
    const pct = t.size !== undefined && t.size > 0 ? ` ${Math.min(100, (100 * t.bytes) / t.size).toFixed(0)} %` : '';
    const rate = seconds > 0 ? `, ${formatCount(t.lines / seconds)} lines/s` : '';
    const which = t.inputs > 1 ? ` [${t.input + 1}/${t.inputs}]` : '';
    const text = `analyze${which} ${t.name}:${pct} ${formatCount(t.lines)} lines, ${(t.bytes / 1048576).toFixed(0)} MiB read${rate}`;
    if (this.stream.isTTY === true) this.stream.write(`\r\x1b[K${text}`);
    else this.stream.write(`${text}\n`);
    this.wrote = true;
  }

  /** Clears the line on a terminal. */
  done(): void {
    if (this.enabled && this.wrote && this.stream.isTTY === true) this.stream.write('\r\x1b[K');
  }
}
