import { DEFAULT_BATCHER_OPTIONS, SpanBatcher } from '../deliver/span-batcher.js';
import { createSpanExporter, type ExporterKind, type OtlpProtocol } from '../deliver/exporter-factory.js';
import { RequestSpanModel } from '../model/request-spans.js';
import { sidecarResource } from '../model/resource.js';
import { TailSampler } from '../model/tail-sampler.js';
import { MalformedLineReporter } from '../ops/malformed-line-reporter.js';
import { startMetrics, type MetricsPipeline } from '../ops/metrics/metrics-pipeline.js';
import type { MetricsOptions } from '../ops/metrics/metrics-options.js';
import type { RequestMetricsRecorder } from '../ops/metrics/request-metrics-recorder.js';
import { PipelineStats } from '../ops/pipeline-stats.js';
import { createLineParser } from '../parse/create-parser.js';
import { VERSION } from '../version.js';
import type { ChunkProcessor } from './chunk-processor.js';
import { LocalProcessor } from './local-processor.js';
import { WorkerPool } from './worker-pool.js';

/** Everything parse → model → deliver needs; plain data, so workers can be built from it. */
export interface ProcessorOptions extends MetricsOptions {
  logFormat?: string;
  escape?: 'default' | 'json' | 'none';
  nginxConf?: string;
  logFormatName?: string;
  exporter: ExporterKind;
  endpoint?: string;
  protocol?: OtlpProtocol;
  serviceName?: string;
  recordQuery: boolean;
  stepTolerance: number;
  /** Share of ordinary requests kept (see TailSampler). */
  sampleRatio: number;
  /** Connects at least this slow (seconds) keep their request. */
  keepSlowConnect: number;
  /** Follow an incoming traceparent's sampled flag. */
  honourParentSampling: boolean;
  maxBatchSpans: number;
  maxInFlight: number;
  maxQueuedSpans: number;
  /** Worker threads; 0 runs everything in this thread. */
  workers: number;
}

/** The stages in this thread. */
export function assembleLocalProcessor(options: ProcessorOptions, log: (message: string) => void, giveUpAfterMs?: number, metrics?: RequestMetricsRecorder): LocalProcessor {
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
  const sampler = new TailSampler({
    ratio: options.sampleRatio,
    slowConnect: options.keepSlowConnect,
    honourParent: options.honourParentSampling,
    stepTolerance: options.stepTolerance,
  });
  return new LocalProcessor(parser, model, sampler, batcher, stats, new MalformedLineReporter(log), metrics);
}

/**
 * In this thread or in workers. Options are checked here first (a bad --log-format fails
 * at start-up with one sentence, not inside a worker); the console exporter stays in this
 * thread so trees print in log order. Metrics (started here unless the caller passes its own
 * MetricsPipeline, or null for none) are recorded where spans are built and shut down after
 * the processor.
 */
export function assembleProcessor(
  options: ProcessorOptions, log: (message: string) => void, fail: (error: Error) => void, giveUpAfterMs?: number,
  metrics: MetricsPipeline | null = startMetrics(options, log),
): ChunkProcessor {
  if (options.workers === 0 || options.exporter === 'console') {
    const local = assembleLocalProcessor(options, log, giveUpAfterMs, metrics?.localRecorder());
    return metrics === null ? local : metrics.around(local);
  }
  createLineParser(options);
  const pool = new WorkerPool(options.workers, { options, giveUpAfterMs, metrics: metrics !== null }, fail, metrics?.merge);
  return metrics === null ? pool : metrics.around(pool);
}
