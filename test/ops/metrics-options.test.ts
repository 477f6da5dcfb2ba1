// When metrics are on, where they go and how often: flags, OTEL_* variables, defaults.
import { describe, expect, it } from 'vitest';
import { resolveMetricsConfig, type MetricsSourceOptions } from '../../src/ops/metrics/metrics-options.ts';

const base: MetricsSourceOptions = { exporter: 'otlp', stepTolerance: 0.2, metrics: true };
const resolve = (options: Partial<MetricsSourceOptions>, env: NodeJS.ProcessEnv = {}) => resolveMetricsConfig({ ...base, ...options }, env);

describe('resolveMetricsConfig', () => {
  it('is on by default with the OTLP exporter, every 10 s, to the collector of --endpoint', () => {
    expect(resolve({ endpoint: 'http://collector:4318/v1/traces' })).toEqual({
      url: 'http://collector:4318/v1/metrics', protocol: 'http/protobuf', intervalMs: 10_000, timeoutMs: 5_000,
    });
    // No --endpoint: the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT or uses localhost:4318.
    expect(resolve({})?.url).toBeUndefined();
    // An --endpoint that is not …/v1/traces says nothing about metrics.
    expect(resolve({ endpoint: 'http://proxy/otlp/traces' })?.url).toBeUndefined();
  });

  it('is off with --no-metrics or OTEL_METRICS_EXPORTER=none, and with the console exporter unless asked', () => {
    expect(resolve({ metrics: false, metricsEndpoint: 'http://c/v1/metrics' })).toBeNull();
    expect(resolve({}, { OTEL_METRICS_EXPORTER: 'none' })).toBeNull();
    expect(resolve({}, { OTEL_METRICS_EXPORTER: 'prometheus' })).toBeNull();
    expect(resolve({ exporter: 'console' })).toBeNull();
    expect(resolve({ exporter: 'console', metricsEndpoint: 'http://c:4318/v1/metrics' })?.url).toBe('http://c:4318/v1/metrics');
    expect(resolve({ exporter: 'console' }, { OTEL_METRICS_EXPORTER: 'otlp' })).not.toBeNull();
    expect(resolve({}, { OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'x' })).toBeNull();
    expect(resolve({ metricsEndpoint: 'http://c/v1/metrics' }, { OTEL_METRICS_EXPORTER: 'none' })).not.toBeNull();
  });

  it('takes --metrics-endpoint, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, --endpoint, OTEL_EXPORTER_OTLP_ENDPOINT, in that order', () => {
    const env = { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://env:4318/v1/metrics' };
    expect(resolve({ metricsEndpoint: 'http://flag:4318/v1/metrics', endpoint: 'http://t:4318/v1/traces' }, env)?.url).toBe('http://flag:4318/v1/metrics');
    // undefined: the exporter reads the variable itself.
    expect(resolve({ endpoint: 'http://t:4318/v1/traces' }, env)?.url).toBeUndefined();
    // The traces variable is for traces only (as the spec says): the exporter's default decides.
    expect(resolve({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/v1/traces' })?.url).toBeUndefined();
    expect(resolve({ endpoint: 'http://flag:4318/v1/traces' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:4318' })?.url).toBe('http://flag:4318/v1/metrics');
    expect(() => resolve({ metricsEndpoint: 'collector:4318' })).toThrow('--metrics-endpoint "collector:4318" is not an http(s) URL');
  });

  it('follows --protocol unless OTEL_EXPORTER_OTLP_METRICS_PROTOCOL says otherwise; no gRPC', () => {
    expect(resolve({ protocol: 'http/json' })?.protocol).toBe('http/json');
    expect(resolve({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })?.protocol).toBe('http/json');
    expect(resolve({ protocol: 'http/json' }, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf' })?.protocol).toBe('http/protobuf');
    expect(() => resolve({}, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' })).toThrow(/gRPC is not supported/);
  });

  it('exports every --metrics-interval, else OTEL_METRIC_EXPORT_INTERVAL (ms); the timeout stays within it', () => {
    expect(resolve({ metricsInterval: 2 })).toMatchObject({ intervalMs: 2_000, timeoutMs: 2_000 });
    expect(resolve({}, { OTEL_METRIC_EXPORT_INTERVAL: '60000' })).toMatchObject({ intervalMs: 60_000, timeoutMs: 5_000 });
    expect(resolve({ metricsInterval: 0.5 }, { OTEL_METRIC_EXPORT_INTERVAL: '60000' })?.intervalMs).toBe(500);
    expect(resolve({}, { OTEL_EXPORTER_OTLP_TIMEOUT: '20000' })?.timeoutMs).toBeUndefined();
  });
});
