import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { ConsoleTreeExporter } from './console-tree-exporter.js';
import { OtlpSpanExporter } from './otlp-span-exporter.js';

export type ExporterKind = 'otlp' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface ExporterOptions {
  kind: ExporterKind;
  /** Full URL of the traces endpoint; otherwise the standard OTEL_EXPORTER_OTLP_* variables decide. */
  endpoint?: string;
  /** Overrides OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL. */
  protocol?: OtlpProtocol;
  /** Requests in flight the OTLP exporter allows (ours stay below it). */
  concurrencyLimit: number;
}

/**
 * The OTLP/HTTP exporters (otlp-span-exporter.ts, built from the official parts) read the
 * standard variables themselves (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS,
 * _COMPRESSION, _TIMEOUT). The protocol variable is ours to honour.
 */
export function createSpanExporter(options: ExporterOptions, env: NodeJS.ProcessEnv = process.env): SpanExporter {
  if (options.kind === 'console') return new ConsoleTreeExporter();
  const protocol = options.protocol ?? protocolFromEnv(env);
  return new OtlpSpanExporter(protocol === 'http/json' ? 'json' : 'protobuf', { url: options.endpoint, concurrencyLimit: options.concurrencyLimit });
}

/** An empty or blank variable counts as unset, as the OpenTelemetry specification says. */
function protocolFromEnv(env: NodeJS.ProcessEnv): OtlpProtocol {
  const set = (value: string | undefined) => value?.trim() || undefined;
  const value = set(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? set(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? 'http/protobuf';
  if (value === 'http/protobuf' || value === 'http/json') return value;
  if (value === 'grpc') throw new Error('OTLP over gRPC is not supported; use http/protobuf (port 4318) or http/json');
  throw new Error(`unknown OTLP protocol "${value}"; use http/protobuf or http/json`);
}
