import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate, type OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, TraceExporterMetricsHelper, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SidecarProtobufTraceSerializer } from './otlp-span-protobuf.js';

/** The component type @opentelemetry/exporter-trace-otlp-{proto,http} report in their self-observability metrics. */
const COMPONENT_TYPE = 'otlp_http_span_exporter';

/** What the collector said it refused in a successful (partial success) response. */
export interface PartialRejection {
  spans: number;
  message: string;
}

/**
 * OTLP/HTTP span exporter: the OTLPTraceExporter of @opentelemetry/exporter-trace-otlp-proto
 * (protobuf) and of -otlp-http (JSON), 0.301.0, rebuilt from the same parts: the same
 * legacy-option conversion (OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,COMPRESSION,
 * TIMEOUT,…}, the `v1/traces` path, the Content-Type), the same retrying HTTP transport,
 * bounded in-flight queue and metrics helper. Two parts differ:
 *  - protobuf requests are written by otlp-span-protobuf.ts (byte-identical, faster);
 *  - a partial success (HTTP 200 whose body lists rejected spans) is kept for the caller
 *    (`takeRejection`, right in the export's callback) instead of going to OTel's diag log,
 *    which nobody reads: the sidecar counts those spans as rejected, not exported.
 */
export class OtlpSpanExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  private readonly responses: ResponseReader;

  constructor(encoding: 'protobuf' | 'json', config: OTLPExporterNodeConfigBase = {}) {
    const responses = new ResponseReader(encoding === 'protobuf' ? SidecarProtobufTraceSerializer : JsonTraceSerializer);
    const contentType = encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
    super(createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': contentType }),
      responses,
      COMPONENT_TYPE,
      TraceExporterMetricsHelper,
      config.selfObsMeterProvider,
    ));
    this.responses = responses;
  }

  /**
   * The rejection in the response of the export whose callback is running, if any. (The
   * delegate decodes a response and calls that export's callback in one go, so the latest
   * decoded response is that export's.)
   */
  takeRejection(): PartialRejection | undefined {
    const last = this.responses.last;
    this.responses.last = undefined;
    return last;
  }
}

/** A serializer that remembers the partial success of the latest response it decoded. */
class ResponseReader implements ISerializer<ReadableSpan[], IExportTraceServiceResponse> {
  last: PartialRejection | undefined;

  constructor(private readonly base: ISerializer<ReadableSpan[], IExportTraceServiceResponse>) {}

  serializeRequest(spans: ReadableSpan[]): Uint8Array | undefined {
    return this.base.serializeRequest(spans);
  }

  deserializeResponse(data: Uint8Array): IExportTraceServiceResponse {
    const response = this.base.deserializeResponse(data);
    const partial = response.partialSuccess;
    // int64 arrives as a number, a string (JSON) or a Long (protobufjs): Number() reads each.
    const spans = Number(partial?.rejectedSpans ?? 0);
    this.last = spans > 0 || partial?.errorMessage ? { spans, message: partial?.errorMessage ?? '' } : undefined;
    return {};
  }
}

/** The partial rejection an exporter reports for the export whose callback is running. */
export function takeRejection(exporter: SpanExporter): PartialRejection | undefined {
  return exporter instanceof OtlpSpanExporter ? exporter.takeRejection() : undefined;
}
