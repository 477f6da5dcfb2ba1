import { InvalidArgumentError } from 'commander';
import type { ExporterKind, OtlpProtocol } from '../../deliver/exporter-factory.js';

/** The command-line options of metrics (see cli/options.ts). */
export interface MetricsOptions {
  /** false with --no-metrics. */
  metrics?: boolean;
  /** --metrics-endpoint: full URL of the OTLP/HTTP metrics endpoint. */
  metricsEndpoint?: string;
  /** --metrics-interval, seconds. */
  metricsInterval?: number;
}

/** The export options metrics depend on. */
export interface MetricsSourceOptions extends MetricsOptions {
  exporter: ExporterKind;
  endpoint?: string;
  protocol?: OtlpProtocol;
  serviceName?: string;
  stepTolerance: number;
}

export interface MetricsConfig {
  /** The URL to use; undefined lets OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics or http://localhost:4318/v1/metrics decide. */
  url?: string;
  protocol: OtlpProtocol;
  intervalMs: number;
  /** Per export, retries included; undefined lets OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT decide. */
  timeoutMs?: number;
}

export const DEFAULT_METRICS_INTERVAL_S = 10;
/** Unless the OTLP timeout variables say otherwise: the final export must not hold up a shutdown long. */
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * Whether and where metrics go, or null when they are off. On by default with the OTLP
 * exporter; off with --no-metrics or OTEL_METRICS_EXPORTER without `otlp` (e.g. none);
 * with --exporter console only when asked (--metrics-endpoint or OTEL_METRICS_EXPORTER=otlp).
 *
 * Endpoint, first found: --metrics-endpoint; OTEL_EXPORTER_OTLP_METRICS_ENDPOINT; --endpoint
 * with its /v1/traces replaced by /v1/metrics (the collector the spans go to);
 * OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics; http://localhost:4318/v1/metrics. The OTEL_*
 * variables mean what the OpenTelemetry spec says (OTEL_EXPORTER_OTLP_TRACES_* are for traces
 * only); --endpoint, ours, names the collector. Encoding: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
 * --protocol, OTEL_EXPORTER_OTLP_PROTOCOL, http/protobuf.
 */
export function resolveMetricsConfig(options: MetricsSourceOptions, env: NodeJS.ProcessEnv = process.env): MetricsConfig | null {
  if (options.metrics === false) return null;
  const exporters = env.OTEL_METRICS_EXPORTER?.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const asked = options.metricsEndpoint !== undefined || (exporters?.includes('otlp') ?? false);
  if (!asked && ((exporters !== undefined && exporters.length > 0) || options.exporter !== 'otlp')) return null;

  let url: string | undefined;
  if (options.metricsEndpoint !== undefined) url = checkUrl(options.metricsEndpoint);
  else if (!env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) {
    url = besideTraces(options.endpoint);
  }

  const envInterval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  const intervalMs = options.metricsInterval !== undefined
    ? options.metricsInterval * 1000
    : envInterval > 0 ? envInterval : DEFAULT_METRICS_INTERVAL_S * 1000;
  if (!(intervalMs > 0)) throw new Error('--metrics-interval must be more than 0 seconds');
  const timeoutFromEnv = Boolean(env.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT || env.OTEL_EXPORTER_OTLP_TIMEOUT);
  return {
    url,
    protocol: metricsProtocol(options.protocol, env),
    intervalMs,
    timeoutMs: timeoutFromEnv ? undefined : Math.min(intervalMs, DEFAULT_TIMEOUT_MS),
  };
}

function metricsProtocol(flag: OtlpProtocol | undefined, env: NodeJS.ProcessEnv): OtlpProtocol {
  const value = env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL || flag || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
  if (value === 'http/protobuf' || value === 'http/json') return value;
  if (value === 'grpc') throw new Error('OTLP over gRPC is not supported for metrics; use http/protobuf (port 4318) or http/json');
  throw new Error(`unknown OTLP metrics protocol "${value}"; use http/protobuf or http/json`);
}

/** The metrics URL next to a traces URL ending in /v1/traces. */
function besideTraces(tracesUrl: string | undefined): string | undefined {
  return tracesUrl?.endsWith('/v1/traces') ? `${tracesUrl.slice(0, -'/v1/traces'.length)}/v1/metrics` : undefined;
}

function checkUrl(value: string): string {
  let protocol = '';
  try {
    protocol = new URL(value).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`--metrics-endpoint "${value}" is not an http(s) URL`);
  return value;
}

/** Commander parser for --metrics-interval. */
export function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('not a positive number of seconds');
  return n;
}
