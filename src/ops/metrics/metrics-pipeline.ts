import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { sidecarResource } from '../../model/resource.js';
import type { ChunkProcessor } from '../../pipeline/chunk-processor.js';
import { VERSION } from '../../version.js';
import type { MetricsDelta } from './metrics-delta.js';
import { resolveMetricsConfig, type MetricsSourceOptions } from './metrics-options.js';
import { MetricsStore, type MetricsSnapshot } from './metrics-store.js';
import { OtlpMetricExporter } from './otlp-metric-exporter.js';
import { RequestMetricsRecorder } from './request-metrics-recorder.js';

/**
 * The sidecar's metrics, in the main thread: one MeterProvider whose periodic reader exports
 * the MetricsStore (fed by deltas from the span-building threads) over OTLP/HTTP; or, when
 * OTLP metrics are off but a Prometheus page wants them, the store alone.
 *
 *   const metrics = startMetrics(options, log);           // null when metrics are off
 *   const processor = assembleProcessor(options, log, fatal, giveUpAfterMs, metrics);
 *   metrics?.snapshot();                                  // e.g. for a Prometheus page
 *
 * assembleProcessor wires the recorders (in workers or in this thread) to it and shuts it
 * down (a last export) after the processor: callers need nothing else.
 */
export class MetricsPipeline {
  /** Deltas posted by worker threads go here. */
  readonly merge = (delta: MetricsDelta): void => this.store.merge(delta);
  private stopped?: Promise<void>;

  constructor(
    private readonly store: MetricsStore,
    /** Both undefined when metrics are only kept for scraping. */
    private readonly provider: MeterProvider | undefined,
    private readonly exporter: OtlpMetricExporter | undefined,
    private readonly stepTolerance: number,
    private readonly log: (message: string) => void,
  ) {}

  /** Where metrics are sent, if anywhere. */
  get url(): string | undefined {
    return this.exporter?.url;
  }

  /** A recorder for requests processed in this thread (its deltas are taken at each export). */
  localRecorder(): RequestMetricsRecorder {
    const recorder = new RequestMetricsRecorder(this.stepTolerance);
    this.store.addSource(() => recorder.takeDelta());
    return recorder;
  }

  /** Every histogram and counter as of now (cumulative since start), with their latest exemplars. */
  snapshot(): MetricsSnapshot {
    return this.store.snapshot();
  }

  /** Exports now. */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  /** A last export, then stops; bounded by the exporter's timeout. Idempotent. */
  shutdown(): Promise<void> {
    return this.stopped ??= (this.provider?.shutdown() ?? Promise.resolve()).catch((err: unknown) => {
      this.log(`metrics: last export failed: ${(err as Error).message}`);
    });
  }

  /** `processor`, whose shutdown also shuts the metrics down once its last deltas are in. */
  around(processor: ChunkProcessor): ChunkProcessor {
    return {
      process: (chunk, delivered) => processor.process(chunk, delivered),
      flush: (timeoutMs) => processor.flush(timeoutMs),
      shutdown: async () => {
        try {
          await processor.shutdown();
        } finally {
          await this.shutdown();
        }
      },
      stats: () => processor.stats(),
    };
  }
}

/**
 * Starts exporting metrics as the options and OTEL_* variables say (see resolveMetricsConfig).
 * When they are off: null, or with `keepForScrape` (a Prometheus page wants them) a pipeline
 * that records without exporting.
 */
export function startMetrics(
  options: MetricsSourceOptions, log: (message: string) => void, env: NodeJS.ProcessEnv = process.env, keepForScrape = false,
): MetricsPipeline | null {
  const config = resolveMetricsConfig(options, env);
  const store = new MetricsStore({ name: 'nginx-otel-sidecar', version: VERSION });
  if (config === null) return keepForScrape ? new MetricsPipeline(store, undefined, undefined, options.stepTolerance, log) : null;
  const exporter = new OtlpMetricExporter({ url: config.url, protocol: config.protocol, timeoutMs: config.timeoutMs }, log);
  const resource = sidecarResource(options.serviceName);
  const producer: MetricProducer = {
    collect: async () => {
      const scopeMetrics = store.collect();
      // (The reader uses the MeterProvider's resource.) An empty scope is not sent.
      return { resourceMetrics: { resource, scopeMetrics: scopeMetrics.metrics.length > 0 ? [scopeMetrics] : [] }, errors: [] };
    },
  };
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: config.intervalMs,
    exportTimeoutMillis: Math.min(config.intervalMs, config.timeoutMs ?? config.intervalMs),
    metricProducers: [producer],
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  return new MetricsPipeline(store, provider, exporter, options.stepTolerance, log);
}
