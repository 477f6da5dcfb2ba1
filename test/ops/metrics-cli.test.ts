// Issue #5 §2 through the real CLI (dist/): replaying recorded logs exports metrics to the
// collector the spans go to, counting every request (sampled or not), with exemplars that
// name exported spans; in workers or not, protobuf or JSON; off when asked.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONNECT_DURATION_BOUNDARIES } from '../../src/ops/metrics/instruments.ts';
import { startOtlpMetricsReceiver, type OtlpMetricsReceiver, type ReceivedPoint } from '../support/otlp-metrics-receiver.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { runCli } from '../support/sidecar.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const LINES = 300; // syn-drop-linear.json.log
const ONE_SECOND_BUCKET = CONNECT_DURATION_BOUNDARIES.indexOf(1.2);

function sumOf(points: ReceivedPoint[], metric: string, field: 'value' | 'count' = 'value'): number {
  return points.filter((p) => p.metric === metric).reduce((n, p) => n + p[field], 0);
}

/** Totals without times and exemplars, to compare runs. */
function totals(points: ReceivedPoint[]): unknown[] {
  return points
    .map((p) => ({ metric: p.metric, attributes: p.attributes, value: p.value, count: p.count, buckets: p.bucketCounts, sum: p.sum?.toFixed(6) }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('metrics from the CLI', () => {
  let traces: OtlpReceiver;
  let collector: OtlpMetricsReceiver;
  beforeEach(async () => {
    traces = await startOtlpReceiver();
    collector = await startOtlpMetricsReceiver({ traces });
  });
  afterEach(async () => {
    await collector.close();
    await traces.close();
  });

  it('go to the collector of --endpoint, count every request though spans are sampled, and link exemplars to exported spans', async () => {
    const { code, stderr } = await runCli(['replay', '--endpoint', collector.tracesUrl, '--sample-ratio', '0.1', '--service-name', 'edge', fixture('syn-drop-linear.json.log')]);
    expect(code, stderr).toBe(0);
    expect(collector.requests.length).toBeGreaterThan(0);
    expect(collector.requests[0].contentType).toBe('application/x-protobuf');
    const points = collector.requests.at(-1)!.points; // cumulative: the last export has it all
    expect(points[0].resource['service.name']).toBe('edge');
    expect(points[0].scope).toBe('nginx-otel-sidecar');

    // Every line is measured; only some requests became spans.
    expect(sumOf(points, 'http.server.request.duration', 'count')).toBe(LINES);
    expect(sumOf(points, 'nginx.upstream.attempts')).toBe(LINES);
    const servers = traces.spans.filter((s) => s.kind === 2);
    expect(servers.length).toBeLessThan(LINES);

    // Flagged connects are always kept, and the counter counts exactly them.
    const flagged = traces.spans.filter((s) => s.attributes['nginx.upstream.connect.syn_retransmit_suspected'] === true);
    expect(flagged.length).toBeGreaterThan(10);
    expect(sumOf(points, 'nginx.upstream.connect.syn_retransmit_suspected')).toBe(flagged.length);
    for (const step of [1, 2, 3, 4]) {
      const byStep = flagged.filter((s) => s.attributes['nginx.upstream.connect.syn_retransmit_step'] === step).length;
      const counted = points.filter((p) => p.metric === 'nginx.upstream.connect.syn_retransmit_suspected' && p.attributes['nginx.upstream.connect.syn_retransmit_step'] === step);
      expect(counted.reduce((n, p) => n + p.value, 0), `step ${step}`).toBe(byStep);
    }

    // The ≈1 s bucket of the victim's connect histogram, and its exemplar is a flagged connect span.
    const victim = flagged[0].attributes['server.port'];
    const connect = points.find((p) => p.metric === 'nginx.upstream.connect.duration' && p.attributes['server.port'] === victim)!;
    expect(connect.explicitBounds).toEqual(CONNECT_DURATION_BOUNDARIES);
    expect(connect.bucketCounts[ONE_SECOND_BUCKET]).toBe(flagged.filter((s) => s.attributes['nginx.upstream.connect.syn_retransmit_step'] === 1 && s.attributes['server.port'] === victim).length);
    const exemplar = connect.exemplars.find((e) => e.value > CONNECT_DURATION_BOUNDARIES[ONE_SECOND_BUCKET - 1] && e.value <= 1.2)!;
    const span = flagged.find((s) => s.spanId === exemplar.spanId)!;
    expect(span).toMatchObject({ name: 'connect', traceId: exemplar.traceId });
    expect(span.duration).toBeCloseTo(exemplar.value, 3);
    expect(Number(span.endNs)).toBeCloseTo(Number(exemplar.timeNs), -3);

    // Every exemplar of every export names a span that was exported.
    const exported = new Set(traces.spans.map((s) => `${s.traceId}/${s.spanId}`));
    const all = collector.points().flatMap((p) => p.exemplars);
    expect(all.length).toBeGreaterThan(10);
    for (const e of all) expect(exported.has(`${e.traceId}/${e.spanId}`), `${e.traceId}/${e.spanId}`).toBe(true);
  });

  it('add up to the same totals in worker threads and in one thread', async () => {
    const args = ['replay', '--endpoint', collector.tracesUrl, fixture('syn-drop-linear.json.log'), fixture('retries.json.log')];
    expect((await runCli([...args, '--workers', '2'])).code).toBe(0);
    const inWorkers = collector.requests.at(-1)!.points;
    expect((await runCli([...args, '--workers', '0'])).code).toBe(0);
    const inOneThread = collector.requests.at(-1)!.points;
    expect(totals(inWorkers)).toEqual(totals(inOneThread));
    expect(sumOf(inWorkers, 'nginx.upstream.retries')).toBeGreaterThan(0);
  });

  it('speak OTLP/JSON with --protocol http/json', async () => {
    const { code } = await runCli(['replay', '--protocol', 'http/json', '--endpoint', collector.tracesUrl, fixture('syn-drop-linear.json.log')]);
    expect(code).toBe(0);
    const last = collector.requests.at(-1)!;
    expect(last.contentType).toBe('application/json');
    expect(sumOf(last.points, 'http.server.request.duration', 'count')).toBe(LINES);
    expect(last.points.some((p) => p.exemplars.length > 0)).toBe(true);
  });

  it('are off with --no-metrics, and with --exporter console unless --metrics-endpoint is given', async () => {
    expect((await runCli(['replay', '--no-metrics', '--endpoint', collector.tracesUrl, fixture('proxy-basic.json.log')])).code).toBe(0);
    expect(traces.spans.length).toBeGreaterThan(0);
    expect((await runCli(['replay', '--exporter', 'console', '--endpoint', collector.tracesUrl, fixture('proxy-basic.json.log')])).code).toBe(0);
    expect(collector.requests).toHaveLength(0);
    const console = await runCli(['replay', '--exporter', 'console', '--metrics-endpoint', collector.url, fixture('proxy-basic.json.log')]);
    expect(console.code, console.stderr).toBe(0);
    expect(console.stdout).toContain('connect');
    expect(sumOf(collector.requests.at(-1)!.points, 'http.server.request.duration', 'count')).toBe(30);
  });

  it('a collector refusing metrics is logged once and does not fail the replay', async () => {
    collector.respondWith(400);
    const { code, stderr } = await runCli(['replay', '--endpoint', collector.tracesUrl, fixture('proxy-basic.json.log')]);
    expect(code, stderr).toBe(0);
    expect(stderr.match(/metrics export to \S+\/v1\/metrics failed \(HTTP 400\)/g)).toHaveLength(1);
    expect(stderr).toMatch(/→ \d+ spans exported, 0 failed/);
  });
});
