// Issue #5 §2, the crime seen as metrics: SYNs to one upstream are dropped at random by
// iptables (real nginx, real kernel retransmissions), the sidecar `run` follows the log and
// exports spans and metrics to one collector. The connect histogram must show the ≈1 s
// bucket for the victim, the suspected counter must match the flagged connect spans, and an
// exemplar must lead to a flagged span's trace. Sampling is left at run's 0.1: metrics count
// every request, spans only some (flagged ones always).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECT_DURATION_BOUNDARIES } from '../../src/ops/metrics/instruments.ts';
import { httpRequest, runConcurrently } from '../support/http-client.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { startOtlpMetricsReceiver, type OtlpMetricsReceiver, type ReceivedPoint } from '../support/otlp-metrics-receiver.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { startSidecar, type Sidecar } from '../support/sidecar.ts';
import { dropSyns, type SynDrop } from '../support/syn-drop.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const REQUESTS = 40;
const ONE_SECOND_BUCKET = CONNECT_DURATION_BOUNDARIES.indexOf(1.2);
const SUSPECTED = 'nginx.upstream.connect.syn_retransmit_suspected';

describe('dropped SYNs in the metrics', () => {
  let traces: OtlpReceiver;
  let collector: OtlpMetricsReceiver;
  let upstream: Upstream;
  let nginx: NginxInstance;
  let sidecar: Sidecar;
  let drop: SynDrop | undefined;

  beforeAll(async () => {
    traces = await startOtlpReceiver();
    collector = await startOtlpMetricsReceiver({ traces });
    upstream = await startUpstream({ name: 'victim' });
    nginx = await startNginx({
      http: (ctx) => `
        server {
          listen ${ctx.listen()};
          location / { proxy_pass http://${upstream.address}; proxy_connect_timeout 10s; }
        }`,
    });
    sidecar = startSidecar([
      'run', '--file', nginx.accessLog, '--start-at', 'beginning', '--endpoint', collector.tracesUrl,
      '--status-interval', '0', '--metrics-interval', '1', '--sample-ratio', '0.1',
    ]);
    await sidecar.waitForStderr(/following/);
    drop = dropSyns({ port: upstream.port, probability: 0.3 });
    try {
      await runConcurrently(REQUESTS, 20, (i) => httpRequest({ port: nginx.port, path: `/r/${i}`, timeoutMs: 30_000 }));
    } finally {
      drop();
    }
    await nginx.waitForLines(REQUESTS);
  });

  afterAll(async () => {
    drop?.();
    await sidecar?.stop();
    await nginx?.stop();
    await upstream?.stop();
    await collector?.close();
    await traces?.close();
  });

  const victim = (p: ReceivedPoint) => p.attributes['server.address'] === '127.0.0.1' && p.attributes['server.port'] === upstream.port;

  it('show the ≈1 s connects in their own bucket, count exactly the flagged spans, and link to their traces', async () => {
    // An export covering every request (the exports are cumulative).
    const points = await collector.waitFor((ps) => ps.some((p) => p.metric === 'nginx.upstream.connect.duration' && victim(p) && p.count === REQUESTS), 30_000);
    const connect = points.find((p) => p.metric === 'nginx.upstream.connect.duration' && victim(p))!;
    expect(connect).toMatchObject({ type: 'histogram', unit: 's', temporality: 2, explicitBounds: CONNECT_DURATION_BOUNDARIES });
    expect(points.find((p) => p.metric === 'nginx.upstream.attempts' && victim(p))?.value).toBe(REQUESTS);
    expect(points.filter((p) => p.metric === 'http.server.request.duration').reduce((n, p) => n + p.count, 0)).toBe(REQUESTS);

    // The counter equals the connect spans flagged as suspected retransmits (always kept by sampling).
    const suspected = points.filter((p) => p.metric === SUSPECTED && victim(p)).reduce((n, p) => n + p.value, 0);
    expect(suspected).toBeGreaterThan(0); // P(no SYN of 40 dropped at p = 0.3) ≈ 6e-7
    const flagged = await waitForFlagged(suspected);
    expect(flagged).toHaveLength(suspected);
    for (const step of new Set(flagged.map((s) => s.attributes['nginx.upstream.connect.syn_retransmit_step']))) {
      const counted = points.find((p) => p.metric === SUSPECTED && victim(p) && p.attributes['nginx.upstream.connect.syn_retransmit_step'] === step)?.value;
      expect(counted, `step ${step}`).toBe(flagged.filter((s) => s.attributes['nginx.upstream.connect.syn_retransmit_step'] === step).length);
    }

    // The ≈1 s bucket holds the connects that waited one retransmission.
    const oneSecond = flagged.filter((s) => s.attributes['nginx.upstream.connect.syn_retransmit_step'] === 1);
    expect(oneSecond.length).toBeGreaterThan(0);
    expect(connect.bucketCounts[ONE_SECOND_BUCKET]).toBeGreaterThanOrEqual(oneSecond.length);
    // Every flagged connect is above 0.99 s.
    expect(countAbove(connect, 0.99)).toBeGreaterThanOrEqual(flagged.length);

    // An exemplar of that bucket is a flagged connect span: same trace, same span, same time.
    const exemplars = collector.points().filter((p) => p.metric === 'nginx.upstream.connect.duration' && victim(p)).flatMap((p) => p.exemplars);
    const inBucket = exemplars.filter((e) => e.value > CONNECT_DURATION_BOUNDARIES[ONE_SECOND_BUCKET - 1] && e.value <= 1.2);
    expect(inBucket.length).toBeGreaterThan(0);
    for (const e of inBucket) {
      const span = flagged.find((s) => s.traceId === e.traceId && s.spanId === e.spanId);
      expect(span, `exemplar ${e.traceId}/${e.spanId}`).toBeDefined();
      expect(span!.duration).toBeCloseTo(e.value, 3);
    }
    // Each export shares one start time and only grows.
    const series = collector.requests.map((r) => r.points.find((p) => p.metric === 'nginx.upstream.connect.duration' && victim(p))).filter((p) => p !== undefined);
    expect(new Set(series.map((p) => p.startNs)).size).toBe(1);
    for (let i = 1; i < series.length; i++) expect(series[i].count).toBeGreaterThanOrEqual(series[i - 1].count);
  });

  async function waitForFlagged(count: number): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const flagged = traces.spans.filter((s) => s.name === 'connect' && s.attributes['nginx.upstream.connect.syn_retransmit_suspected'] === true);
      if (flagged.length >= count || Date.now() > deadline) return flagged;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});

/** Observations above `seconds` (a bucket boundary). */
function countAbove(point: ReceivedPoint, seconds: number): number {
  const from = point.explicitBounds.indexOf(seconds) + 1;
  return point.bucketCounts.slice(from).reduce((a, b) => a + b, 0);
}
