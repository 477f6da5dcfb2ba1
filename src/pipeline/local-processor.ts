import { DeliveryTicket } from '../deliver/delivery-ticket.js';
import type { SpanBatcher } from '../deliver/span-batcher.js';
import type { LineChunk } from '../input/line-chunk.js';
import type { LogSpan } from '../model/log-span.js';
import type { RequestSpanModel } from '../model/request-spans.js';
import type { TailSampler } from '../model/tail-sampler.js';
import { callerContext } from '../model/trace-context.js';
import type { MalformedLineReporter } from '../ops/malformed-line-reporter.js';
import type { RequestMetricsRecorder } from '../ops/metrics/request-metrics-recorder.js';
import type { PipelineStats } from '../ops/pipeline-stats.js';
import { MalformedLineError } from '../parse/access-record.js';
import type { LineParser } from '../parse/line-parser.js';
import type { ChunkProcessor } from './chunk-processor.js';

/** The stages in this thread: each line is parsed and modelled, the spans batched for export. */
export class LocalProcessor implements ChunkProcessor {
  constructor(
    private readonly parser: LineParser,
    private readonly model: RequestSpanModel,
    private readonly sampler: TailSampler,
    private readonly batcher: SpanBatcher,
    private readonly counters: PipelineStats,
    private readonly malformed: MalformedLineReporter,
    private readonly metrics?: RequestMetricsRecorder,
  ) {}

  process(chunk: LineChunk, delivered: () => void): Promise<void> {
    const spans: LogSpan[] = [];
    const lines = chunk.lines;
    this.counters.linesRead += lines.length;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length === 0) continue;
      try {
        const record = this.parser.parse(line);
        this.counters.linesParsed++;
        const caller = callerContext(record);
        const decision = this.sampler.decide(record, caller);
        if (decision === 'out') {
          this.counters.requestsSampledOut++;
          this.metrics?.record(record);
          continue;
        }
        if (decision === 'cause') this.counters.requestsKeptForCause++;
        const first = spans.length;
        this.model.spans(record, spans, caller);
        this.metrics?.record(record, spans, first);
      } catch (err) {
        if (!(err instanceof MalformedLineError)) throw err;
        this.counters.linesMalformed++;
        this.malformed.report(chunk, i, err.message);
      }
    }
    this.counters.spansCreated += spans.length;
    return this.batcher.add(spans, new DeliveryTicket(delivered));
  }

  flush(timeoutMs: number): Promise<boolean> {
    return this.batcher.flush(timeoutMs);
  }

  shutdown(): Promise<void> {
    this.malformed.summarise();
    return this.batcher.shutdown();
  }

  stats(): PipelineStats {
    return this.counters;
  }
}
