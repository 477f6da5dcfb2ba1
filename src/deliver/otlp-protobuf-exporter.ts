import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate, type OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base/node-http';
import { TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SidecarProtobufTraceSerializer } from './otlp-span-protobuf.js';

/** The component type @opentelemetry/exporter-trace-otlp-proto reports in its self-observability metrics. */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

/**
 * OTLP/HTTP protobuf span exporter: @opentelemetry/exporter-trace-otlp-proto's
 * OTLPTraceExporter (0.301.0) rebuilt from the same parts — the same legacy-option
 * conversion (OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,COMPRESSION,TIMEOUT,…}, the
 * `v1/traces` path, Content-Type application/x-protobuf), the same retrying HTTP transport,
 * bounded in-flight queue and metrics helper — with one part swapped: the request encoder
 * (otlp-span-protobuf.ts, byte-identical to ProtobufTraceSerializer, which still decodes
 * the responses).
 */
export class OtlpProtobufSpanExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  constructor(config: OTLPExporterNodeConfigBase = {}) {
    super(createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      SidecarProtobufTraceSerializer,
      COMPONENT_TYPE,
      TraceExporterMetricsHelper,
      config.selfObsMeterProvider,
    ));
  }
}
