import type { LineChunk, LineInput } from './input/line-chunk.js';
import { InOrderAcknowledger } from './deliver/delivery-ticket.js';
import type { SpanBatcher } from './deliver/span-batcher.js';
import type { LogSpan } from './model/log-span.js';
import type { RequestSpanModel } from './model/request-spans.js';
import type { PipelineStats } from './ops/pipeline-stats.js';
import { MalformedLineError } from './parse/access-record.js';
import type { LineParser } from './parse/line-parser.js';
import type { MalformedLineReporter } from './ops/malformed-line-reporter.js';

/**
 * input → parse → model → deliver. One chunk at a time per input: its lines become
 * spans, the spans go to the batcher, and the chunk's resume position goes back to the
 * input once the collector has them all.
 */
export class Pipeline {
  constructor(
    private readonly parser: LineParser,
    private readonly model: RequestSpanModel,
    private readonly batcher: SpanBatcher,
    private readonly stats: PipelineStats,
    private readonly malformed: MalformedLineReporter,
  ) {}

  /** Runs one input to its end (or until `signal` aborts). */
  async run(input: LineInput, signal: AbortSignal): Promise<void> {
    const acknowledger = new InOrderAcknowledger((position) => input.acknowledge?.(position));
    await input.run((chunk) => this.process(chunk, acknowledger), signal);
  }

  private process(chunk: LineChunk, acknowledger: InOrderAcknowledger): Promise<void> {
    const spans: LogSpan[] = [];
    const lines = chunk.lines;
    this.stats.linesRead += lines.length;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length === 0) continue;
      try {
        this.model.spans(this.parser.parse(line), spans);
        this.stats.linesParsed++;
      } catch (err) {
        if (!(err instanceof MalformedLineError)) throw err;
        this.stats.linesMalformed++;
        this.malformed.report(chunk, i, err.message);
      }
    }
    this.stats.spansCreated += spans.length;
    return this.batcher.add(spans, acknowledger.ticketFor(chunk));
  }
}
