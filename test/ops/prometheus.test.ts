import { describe, expect, it } from 'vitest';
import type { LineInput } from '../../src/input/line-chunk.js';
import { newInputCounters } from '../../src/input/line-chunk.js';
import { checkHealth, checkReady, type HealthFacts } from '../../src/ops/health.js';
import { parseListenAddress, sidecarMetrics } from '../../src/ops/ops-server.js';
import { PipelineStats } from '../../src/ops/pipeline-stats.js';
import { counter, formatValue, gauge, renderPrometheus } from '../../src/ops/prometheus.js';
import { VERSION } from '../../src/version.js';

describe('Prometheus text exposition', () => {
  it('renders HELP, TYPE and samples, escaping help and label values', () => {
    const text = renderPrometheus([
      counter('x_requests_total', 'Requests.\nSecond line with a \\ backslash.', 3),
      gauge('x_info', 'Info.', 1, { version: '1.0 "beta"\\n', path: 'a\nb' }),
      { name: 'x_latency_seconds', help: 'Latency.', type: 'summary', samples: [{ suffix: '_sum', value: 0.25 }, { suffix: '_count', value: 2 }] },
    ]);
    expect(text).toBe(
      '# HELP x_requests_total Requests.\\nSecond line with a \\\\ backslash.\n' +
      '# TYPE x_requests_total counter\n' +
      'x_requests_total 3\n' +
      '# HELP x_info Info.\n' +
      '# TYPE x_info gauge\n' +
      'x_info{version="1.0 \\"beta\\"\\\\n",path="a\\nb"} 1\n' +
      '# HELP x_latency_seconds Latency.\n' +
      '# TYPE x_latency_seconds summary\n' +
      'x_latency_seconds_sum 0.25\n' +
      'x_latency_seconds_count 2\n',
    );
  });

  it('writes special values as Prometheus spells them and refuses bad names', () => {
    expect([NaN, Infinity, -Infinity, 1e21, 0.1].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '1e+21', '0.1']);
    expect(() => renderPrometheus([counter('bad-name', 'x', 1)])).toThrow(/invalid metric name/);
    expect(() => renderPrometheus([gauge('ok', 'x', 1, { 'bad-label': 'v' })])).toThrow(/invalid label name/);
  });

  it('names every sidecar metric nginx_otel_sidecar_*, counters end in _total, one family per name', () => {
    const input: LineInput = { run: async () => {}, counters: { ...newInputCounters(), linesRead: 7, rotations: 2, datagramsReceived: 5 }, lagBytes: () => 42 };
    const stats = new PipelineStats();
    stats.linesParsed = 6;
    stats.linesMalformed = 1;
    stats.exportLatencySecondsSum = 1.5;
    stats.exportLatencyCount = 3;
    const facts: HealthFacts = { inputs: [], failingSince: 0, now: Date.now(), unhealthyAfterMs: 60_000, stopping: false };
    const families = sidecarMetrics({ stats: () => stats, inputs: [input, input], checkpoint: { stats: { writes: 4, writeErrors: 0 } }, health: () => facts });
    const names = families.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const f of families) {
      expect(f.name).toMatch(/^nginx_otel_sidecar_[a-z_]+$/);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      else expect(f.name).not.toMatch(/_total$/);
    }
    const text = renderPrometheus(families);
    expect(text).toContain(`nginx_otel_sidecar_info{version="${VERSION}"} 1\n`);
    expect(text).toContain('nginx_otel_sidecar_lines_read_total 14\n'); // summed over inputs
    expect(text).toContain('nginx_otel_sidecar_file_rotations_total 4\n');
    expect(text).toContain('nginx_otel_sidecar_syslog_datagrams_received_total 10\n');
    expect(text).toContain('nginx_otel_sidecar_checkpoint_lag_bytes 84\n');
    expect(text).toContain('nginx_otel_sidecar_lines_malformed_total 1\n');
    expect(text).toContain('nginx_otel_sidecar_export_latency_seconds_sum 1.5\nnginx_otel_sidecar_export_latency_seconds_count 3\n');
    expect(text).toContain('nginx_otel_sidecar_checkpoint_writes_total 4\n');
    for (const required of ['lines_truncated_total', 'spans_created_total', 'spans_exported_total', 'spans_rejected_total', 'spans_failed_total',
      'export_batches_total', 'export_retries_total', 'export_failures_total', 'spans_queued', 'file_truncations_total', 'healthy', 'ready']) {
      expect(names).toContain(`nginx_otel_sidecar_${required}`);
    }
  });
});

describe('health', () => {
  const base: HealthFacts = { inputs: [{ name: 'file /x', isOpen: () => true }], failingSince: 0, now: 1_000_000, unhealthyAfterMs: 60_000, stopping: false };

  it('is ok with open inputs and succeeding exports', () => {
    expect(checkHealth(base)).toEqual({ ok: true, reason: 'ok' });
    expect(checkReady(base)).toEqual({ ok: true, reason: 'ok' });
  });

  it('waits for inputs to open, and says which', () => {
    const facts = { ...base, inputs: [...base.inputs, { name: 'syslog udp://127.0.0.1:5140', isOpen: () => false }] };
    expect(checkHealth(facts)).toEqual({ ok: false, reason: 'starting: waiting for syslog udp://127.0.0.1:5140' });
    expect(checkReady(facts).ok).toBe(false);
  });

  it('tolerates failing exports for --unhealthy-after; readiness does not', () => {
    const failing = { ...base, failingSince: base.now - 30_000 };
    expect(checkHealth(failing).ok).toBe(true);
    expect(checkReady(failing)).toMatchObject({ ok: false, reason: expect.stringMatching(/^export failing for 30 s/) });
    const long = { ...base, failingSince: base.now - 61_000 };
    expect(checkHealth(long)).toMatchObject({ ok: false, reason: expect.stringMatching(/^export has failed continuously for 61 s .*--unhealthy-after 60 s/) });
  });

  it('is red while stopping', () => {
    expect(checkHealth({ ...base, stopping: true })).toEqual({ ok: false, reason: 'stopping' });
  });
});

describe('--listen', () => {
  it('reads host:port forms', () => {
    expect(parseListenAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListenAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseListenAddress(':9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListenAddress('9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(() => parseListenAddress('127.0.0.1')).toThrow(/expected host:port/);
    expect(() => parseListenAddress('127.0.0.1:70000')).toThrow(/bad port/);
  });
});
