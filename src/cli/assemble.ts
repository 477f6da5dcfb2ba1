import { DEFAULT_BATCHER_OPTIONS, SpanBatcher } from '../deliver/span-batcher.js';
import { createSpanExporter } from '../deliver/exporter-factory.js';
import { RequestSpanModel } from '../model/request-spans.js';
import { sidecarResource } from '../model/resource.js';
import { MalformedLineReporter } from '../ops/malformed-line-reporter.js';
import { PipelineStats } from '../ops/pipeline-stats.js';
import { createLineParser } from '../parse/create-parser.js';
import { Pipeline } from '../pipeline.js';
import { VERSION } from '../version.js';
import type { ExportOptions } from './options.js';

export interface Assembled {
  pipeline: Pipeline;
  batcher: SpanBatcher;
  stats: PipelineStats;
}

/** Builds the parse → model → deliver stages from command-line options. */
export function assemblePipeline(options: ExportOptions, log: (message: string) => void, giveUpAfterMs?: number): Assembled {
  const parser = createLineParser(options);
  const model = new RequestSpanModel({
    resource: sidecarResource(options.serviceName),
    scope: { name: 'nginx-otel-sidecar', version: VERSION },
    recordQuery: options.recordQuery,
    stepTolerance: options.stepTolerance,
  });
  const stats = new PipelineStats();
  const exporter = createSpanExporter({
    kind: options.exporter,
    endpoint: options.endpoint,
    protocol: options.protocol,
    concurrencyLimit: options.maxInFlight + 1,
  });
  const batcher = new SpanBatcher(exporter, stats, {
    ...DEFAULT_BATCHER_OPTIONS,
    maxBatchSpans: options.maxBatchSpans,
    maxInFlight: options.exporter === 'console' ? 1 : options.maxInFlight,
    maxQueuedSpans: options.maxQueuedSpans,
    giveUpAfterMs,
    log,
  });
  const pipeline = new Pipeline(parser, model, batcher, stats, new MalformedLineReporter(log));
  return { pipeline, batcher, stats };
}
