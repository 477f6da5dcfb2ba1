// Issue #3 §5: /metrics, /healthz and /readyz of a running sidecar, over real HTTP.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startSpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { httpGet, parseExposition, scrape, sleep, startRun, waitFor, waitHealthy } from '../faults/helpers.ts';
import { VERSION } from '../../src/version.js';

const stopLater = stopAfterEach();

function line(id: number, msec = 1_790_000_000 + id / 1000, connectTime = '0.000'): string {
  const requestId = id.toString(16).padStart(32, '0');
  return JSON.stringify({
    msec: msec.toFixed(3), request_time: (Number(connectTime) + 0.002).toFixed(3), request_id: requestId, remote_addr: '127.0.0.1', request_method: 'GET',
    scheme: 'http', host: 'shop.example', server_port: '80', request_uri: `/items/${id}`, server_protocol: 'HTTP/1.1', status: '200',
    body_bytes_sent: '12', request_length: '80', http_user_agent: 'test', upstream_addr: '127.0.0.1:8080', upstream_status: '200',
    upstream_connect_time: connectTime, upstream_header_time: '0.001', upstream_response_time: (Number(connectTime) + 0.001).toFixed(3),
    http_traceparent: '', http_tracestate: '', http_x_amzn_trace_id: '',
  });
}

async function setUp(extra: string[] = [], env: Record<string, string> = {}) {
  const sink = stopLater(await startSpanSink(), (s) => s.close());
  const dir = stopLater(tempDir('nos-ops-'), (d) => d.remove());
  const log = dir.path('access.log');
  const checkpoint = dir.path('checkpoint.json');
  const run = await startRun(['--file', log, '--checkpoint', checkpoint, '--start-at', 'beginning', '--endpoint', sink.url, ...extra], env);
  const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
  return { ops: run.ops, log, checkpoint, sink, sidecar };
}

describe('ops server', () => {
  it('/healthz waits for the file, then serves ok; /metrics counts what went through; SIGTERM exits 0 with a checkpoint', async () => {
    const { ops, log, checkpoint, sink, sidecar } = await setUp();
    const starting = await httpGet(`${ops}/healthz`);
    expect(starting.status).toBe(503);
    expect(starting.body).toBe(`starting: waiting for file ${log}\n`);
    expect((await httpGet(`${ops}/readyz`)).status).toBe(503);

    writeFileSync(log, '');
    await waitHealthy(ops);
    expect(await httpGet(`${ops}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await httpGet(`${ops}/readyz`)).toMatchObject({ status: 200, body: 'ok\n' });

    const lines = Array.from({ length: 200 }, (_, i) => line(i + 1));
    appendFileSync(log, `${lines.slice(0, 100).join('\n')}\nnot json at all\n{"msec":"17900\n${lines.slice(100).join('\n')}\n`);
    await sink.waitForServerSpans(200, 20_000);
    // worker counters reach the main thread every 250 ms
    await waitFor('metrics to show the exports', async () => (await scrape(ops)).get('nginx_otel_sidecar_spans_exported_total') === 600, 5000);

    const res = await httpGet(`${ops}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    // Well-formed: every sample belongs to the family announced by the HELP/TYPE just before it.
    let family = '';
    let type = '';
    for (const l of res.body.trimEnd().split('\n')) {
      const help = /^# HELP (\S+) \S/.exec(l);
      const typeLine = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(l);
      if (help !== null) family = help[1];
      else if (typeLine !== null) {
        expect(typeLine[1]).toBe(family);
        type = typeLine[2];
      } else {
        expect(l).toMatch(/^(nginx_otel_sidecar|nginx_upstream|http_server)_[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$/);
        expect(l.startsWith(family)).toBe(true);
        if (type === 'counter') expect(l).toMatch(/^\S+_total[ {]/);
        if (type === 'histogram') expect(l).toMatch(/^\S+_(bucket\{.*le="[^"]+"\}|sum|count)[ {]/);
      }
    }
    const m = parseExposition(res.body);
    expect(m.get(`nginx_otel_sidecar_info{version="${VERSION}"}`)).toBe(1);
    expect(m.get('nginx_otel_sidecar_lines_read_total')).toBe(202);
    expect(m.get('nginx_otel_sidecar_lines_parsed_total')).toBe(200);
    expect(m.get('nginx_otel_sidecar_lines_malformed_total')).toBe(2);
    expect(m.get('nginx_otel_sidecar_lines_truncated_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_spans_created_total')).toBe(600); // SERVER, CLIENT, connect
    expect(m.get('nginx_otel_sidecar_spans_exported_total')).toBe(600);
    expect(m.get('nginx_otel_sidecar_spans_rejected_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_spans_failed_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_spans_queued')).toBe(0);
    expect(m.get('nginx_otel_sidecar_export_batches_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('nginx_otel_sidecar_export_latency_seconds_count')).toBe(m.get('nginx_otel_sidecar_export_batches_total'));
    expect(m.get('nginx_otel_sidecar_export_latency_seconds_sum')).toBeGreaterThan(0);
    expect(m.get('nginx_otel_sidecar_export_failures_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_files_opened_total')).toBe(1);
    expect(m.get('nginx_otel_sidecar_healthy')).toBe(1);
    expect(m.get('nginx_otel_sidecar_bytes_read_total')).toBe(readFileSync(log).length);
    await waitFor('checkpoint lag 0', async () => (await scrape(ops)).get('nginx_otel_sidecar_checkpoint_lag_bytes') === 0, 5000);

    expect((await httpGet(`${ops}/nope`)).status).toBe(404);
    expect((await httpGet(`${ops}/metrics`, 'POST')).status).toBe(405);
    expect((await httpGet(`${ops}/healthz`, 'HEAD')).status).toBe(200);

    const started = Date.now();
    expect(await sidecar.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(sidecar.stderr()).toMatch(/stopped: lines 202 .*malformed 2, truncated 0/);
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { files: { path: string; offset: number }[] };
    expect(saved.files).toEqual([expect.objectContaining({ path: log, offset: readFileSync(log).length })]);
    await expect(httpGet(`${ops}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('/metrics carries the connect-time histogram and the suspected-retransmit counter, with OTLP metrics off too', async () => {
    const { ops, log, sink, sidecar } = await setUp(['--no-metrics', '--workers', '2']);
    // 40 quick connects, 3 that waited for one SYN retransmission (≈1 s), 1 slow but not a step.
    const lines = Array.from({ length: 40 }, (_, i) => line(i + 1));
    lines.push(line(41, undefined, '1.004'), line(42, undefined, '1.013'), line(43, undefined, '1.150'), line(44, undefined, '0.600'));
    writeFileSync(log, `${lines.join('\n')}\n`);
    await sink.waitForServerSpans(44, 20_000);
    const connect = 'nginx_upstream_connect_duration_seconds';
    const at = 'server_address="127.0.0.1",server_port="8080"';
    await waitFor('the connect histogram to count every attempt', async () => (await scrape(ops)).get(`${connect}_count{${at}}`) === 44, 5000);

    const m = await scrape(ops);
    expect(m.get(`${connect}_bucket{${at},le="0.001"}`)).toBe(40);
    expect(m.get(`${connect}_bucket{${at},le="0.99"}`)).toBe(41); // + the 0.6 s one
    expect(m.get(`${connect}_bucket{${at},le="1.2"}`)).toBe(44); // the ≈1 s step's own bucket: (0.99, 1.2]
    expect(m.get(`${connect}_bucket{${at},le="+Inf"}`)).toBe(44);
    expect(m.get(`${connect}_sum{${at}}`)).toBeCloseTo(1.004 + 1.013 + 1.15 + 0.6, 6);
    expect(m.get(`nginx_upstream_connect_syn_retransmit_suspected_total{${at},nginx_upstream_connect_syn_retransmit_step="1"}`)).toBe(3);
    expect(m.get(`nginx_upstream_attempts_total{${at}}`)).toBe(44);
    expect(m.get('http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200"}')).toBe(44);
    // the process start (worker threads too), the same at every scrape
    await sleep(300);
    expect(m.get('nginx_otel_sidecar_start_time_seconds')).toBeLessThan(Date.now() / 1000 - 0.5);
    expect((await scrape(ops)).get('nginx_otel_sidecar_start_time_seconds')).toBe(m.get('nginx_otel_sidecar_start_time_seconds'));
    // --no-metrics: nothing was sent over OTLP (the sink would have logged a metrics request).
    expect(sidecar.stderr()).not.toMatch(/metrics: /);
  });

  it('/readyz turns 503 on the first failed export, /healthz after --unhealthy-after; both recover', async () => {
    // OTLP exporter: one request may take 1 s before its own retries give up.
    const { ops, log, sink, sidecar } = await setUp(['--unhealthy-after', '2'], { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '1000' });
    writeFileSync(log, `${line(1)}\n`);
    await sink.waitForServerSpans(1);
    await waitHealthy(ops);
    sink.respondWith(503);
    appendFileSync(log, `${line(2)}\n`);
    await waitFor('/readyz 503', async () => (await httpGet(`${ops}/readyz`)).status === 503, 10_000);
    expect((await httpGet(`${ops}/readyz`)).body).toMatch(/^export failing for \d+ s \(since \d{4}-/);
    expect((await httpGet(`${ops}/healthz`)).status).toBe(200); // within --unhealthy-after
    await waitFor('/healthz 503', async () => (await httpGet(`${ops}/healthz`)).status === 503, 10_000);
    const unhealthy = await httpGet(`${ops}/healthz`);
    expect(unhealthy.body).toMatch(/^export has failed continuously for \d+ s \(since .*; --unhealthy-after 2 s\)\n$/);
    const m = await scrape(ops);
    expect(m.get('nginx_otel_sidecar_healthy')).toBe(0);
    expect(m.get('nginx_otel_sidecar_export_failures_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('nginx_otel_sidecar_export_retries_total')).toBeGreaterThanOrEqual(1);
    expect(m.get('nginx_otel_sidecar_export_failing_seconds')).toBeGreaterThan(2);
    expect(m.get('nginx_otel_sidecar_spans_queued')).toBe(3);
    expect(m.get('nginx_otel_sidecar_checkpoint_lag_bytes')).toBe(line(2).length + 1);

    sink.respondWith(200);
    await sink.waitForServerSpans(2, 40_000);
    await waitHealthy(ops);
    expect((await httpGet(`${ops}/readyz`)).status).toBe(200);
    expect(await sidecar.stop()).toBe(0);
  });

  it('refuses a port in use with one sentence, before starting anything', async () => {
    const first = await setUp();
    const port = new URL(first.ops).port;
    const { runCli } = await import('../support/sidecar.ts');
    const second = await runCli(['run', '--file', first.log, '--listen', `127.0.0.1:${port}`, '--endpoint', first.sink.url]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/^nginx-otel-sidecar: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+\n$/);
  });
});
