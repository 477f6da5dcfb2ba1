import type { LineInput } from '../input/line-chunk.js';
import type { PipelineStats } from './pipeline-stats.js';

/** The one-line status the sidecar logs every interval, so its own log tells how it is doing. */
export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private lastLines = 0;
  private lastAt = performance.now();

  constructor(private readonly stats: () => PipelineStats, private readonly inputs: LineInput[], private readonly log: (message: string) => void) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.print('status'), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  print(label: string): void {
    const s = this.stats();
    const now = performance.now();
    const rate = ((s.linesRead - this.lastLines) / ((now - this.lastAt) / 1000)) || 0;
    this.lastLines = s.linesRead;
    this.lastAt = now;
    const lag = this.inputs.reduce((sum, input) => sum + (input.lagBytes?.() ?? 0), 0);
    const truncated = this.inputs.reduce((sum, input) => sum + (input.counters?.linesTruncated ?? 0), 0);
    this.log(`${label}: lines ${s.linesRead} (${Math.round(rate)}/s), malformed ${s.linesMalformed}, truncated ${truncated}, ` +
      `spans exported ${s.spansExported}, queued ${s.spansQueued}, rejected ${s.spansRejected}, failed ${s.spansFailed}, ` +
      `export retries ${s.exportRetries}, checkpoint lag ${lag} B`);
  }
}
