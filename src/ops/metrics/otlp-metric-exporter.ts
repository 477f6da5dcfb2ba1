import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase, OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import {
  JsonMetricsSerializer, MetricsExporterMetricsHelper, ProtobufMetricsSerializer,
  type IExportMetricsServiceResponse, type ISerializer,
} from '@opentelemetry/otlp-transformer';
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { OtlpProtocol } from '../../deliver/exporter-factory.js';
import { encodeMetricsRequestJson } from './otlp-metrics-json.js';
import { encodeMetricsRequest } from './otlp-metrics-protobuf.js';

export interface OtlpMetricExporterOptions {
  /** undefined: the OTEL_EXPORTER_OTLP_* variables or the default decide. */
  url?: string;
  protocol: OtlpProtocol;
  timeoutMs?: number;
}

/**
 * OTLP/HTTP metrics, with exemplars. The transport is the SDK's (otlp-exporter-base: the
 * OTEL_EXPORTER_OTLP_[METRICS_]{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT,CERTIFICATE…} variables,
 * retries with backoff); only the request encoding is ours, because the SDK's serializers
 * drop exemplars (see otlp-metrics-protobuf.ts). Failures are logged once per outage: the
 * data is cumulative, so the next successful export carries what a failed one would have.
 */
export class OtlpMetricExporter implements PushMetricExporter {
  readonly url: string;
  private readonly base: OTLPExporterBase<ResourceMetrics>;
  private failing = false;

  constructor(options: OtlpMetricExporterOptions, private readonly log: (message: string) => void) {
    const json = options.protocol === 'http/json';
    const config = convertLegacyHttpOptions(
      { url: options.url, timeoutMillis: options.timeoutMs },
      'METRICS', 'v1/metrics', { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' },
    );
    const serializer: ISerializer<ResourceMetrics, IExportMetricsServiceResponse> = json
      ? { serializeRequest: encodeMetricsRequestJson, deserializeResponse: (data) => JsonMetricsSerializer.deserializeResponse(data) }
      : { serializeRequest: encodeMetricsRequest, deserializeResponse: (data) => ProtobufMetricsSerializer.deserializeResponse(data) };
    this.url = config.url;
    this.base = new OTLPExporterBase(createOtlpHttpExportDelegate(config, serializer, 'otlp_http_metric_exporter', MetricsExporterMetricsHelper, undefined));
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.base.export(metrics, (result) => {
      this.report(result);
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.base.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.base.shutdown();
  }

  /** The sidecar's own data is cumulative (see MetricsStore); so are any SDK instruments'. */
  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }

  private report(result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.failing) this.log(`metrics export to ${this.url} works again`);
      this.failing = false;
      return;
    }
    if (this.failing) return;
    this.failing = true;
    const error = result.error;
    const why = error instanceof OTLPExporterError && error.code !== undefined ? `HTTP ${error.code}` : error?.message ?? 'unknown error';
    this.log(`metrics export to ${this.url} failed (${why}); metrics are cumulative, so the next export that gets through catches up`);
  }
}
