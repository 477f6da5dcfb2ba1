// Issue #3 §6: the collector is away for 60 s (30 s refusing connections, 30 s answering
// 503) while nginx keeps logging. Nothing is lost, nothing is sent twice, reading pauses
// once --max-queued-spans is reached, and the sidecar's memory (RSS of the whole process,
// worker threads included) stays under a bound.
import { describe, expect, it } from 'vitest';
import { startNginx } from '../support/nginx.ts';
import { startSpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { httpGet, otelSeqLogFormat, parseSeqLine, rssMiB, scrape, sleep, startRun, unionOfLogs, waitFor, waitHealthy, wrk } from './helpers.ts';

const OUTAGE_REFUSED_S = 30;
const OUTAGE_503_S = 30;
/** The default --max-queued-spans (per worker; run's default is one thread, no workers). */
const MAX_QUEUED = 16_384;
/**
 * RSS bound for the whole process with run's defaults (one thread, 16384 queued spans),
 * measured at 130 MiB peak during the outage on a 2-core machine with Node 24 (88 MiB at
 * rest; 224-244 MiB with --workers 2); the bound leaves half again for allocator and GC timing.
 *
 * NOS_SIDECAR_NODE_OPTIONS is passed to the sidecar as NODE_OPTIONS, to try a V8 heap cap
 * (--max-old-space-size applies to each worker's heap too): with =40 it still delivers
 * everything, peak RSS 182 MiB.
 */
const RSS_BOUND_MIB = 200;

const stopLater = stopAfterEach();

describe('collector outage', () => {
  it(`${OUTAGE_REFUSED_S + OUTAGE_503_S} s without a collector: nothing lost or duplicated, memory bounded, /healthz tells`, async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const nginx = stopLater(await startNginx({
      // a proxied request: SERVER, CLIENT and connect spans, with the upstream attributes
      portCount: 2,
      http: (ctx) => `
      ${otelSeqLogFormat()}
      server {
          listen ${ctx.listen()};
          access_log ${ctx.accessLog} otel_seq;
          location / { proxy_pass http://${ctx.listen(1)}; }
      }
      server {
          listen ${ctx.listen(1)};
          access_log off;
          location / { return 200 "ok\\n"; }
      }`,
    }), (n) => n.stop());
    const state = stopLater(tempDir('nos-outage-'), (d) => d.remove());
    const run = await startRun(
      ['--file', nginx.accessLog, '--checkpoint', state.path('checkpoint.json'), '--start-at', 'beginning', '--endpoint', sink.url, '--unhealthy-after', '20'],
      process.env.NOS_SIDECAR_NODE_OPTIONS !== undefined ? { NODE_OPTIONS: process.env.NOS_SIDECAR_NODE_OPTIONS } : {},
    );
    const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitHealthy(run.ops);
    const pid = sidecar.child.pid!;
    const baseline = rssMiB(pid);

    const loadSeconds = OUTAGE_REFUSED_S + OUTAGE_503_S + 8;
    const load = wrk(nginx.url('/'), loadSeconds, { connections: 2, paced: true });
    await sleep(3000);
    const rss: number[] = [];
    let maxQueued = 0;
    let unhealthySeen = '';
    const sample = async (): Promise<void> => {
      rss.push(rssMiB(pid));
      const m = await scrape(run.ops);
      maxQueued = Math.max(maxQueued, m.get('nginx_otel_sidecar_spans_queued') ?? 0);
      const h = await httpGet(`${run.ops}/healthz`);
      if (h.status === 503) unhealthySeen = h.body;
    };

    await sink.down();
    const outageStart = Date.now();
    while (Date.now() - outageStart < OUTAGE_REFUSED_S * 1000) {
      await sample();
      await sleep(1000);
    }
    await sink.up();
    sink.respondWith(503);
    while (Date.now() - outageStart < (OUTAGE_REFUSED_S + OUTAGE_503_S) * 1000) {
      await sample();
      await sleep(1000);
    }
    const during = await scrape(run.ops);
    sink.respondWith(200);
    const recoveredAt = Date.now();
    const report = await load.done;

    const union = unionOfLogs(nginx.dir).map(parseSeqLine);
    const ids = new Set(union.map((r) => r.requestId));
    await waitFor(`all ${ids.size} requests delivered`, () => {
      for (const id of ids) if (!sink.serverCount.has(id)) return false;
      return true;
    }, 120_000, 500);
    const drainedAfter = (Date.now() - recoveredAt) / 1000;
    await sleep(1000);
    await waitHealthy(run.ops, 5000);
    const after = await scrape(run.ops);
    expect(await sidecar.stop()).toBe(0);

    const lost = [...ids].filter((id) => !sink.serverCount.has(id)).length;
    let duplicates = 0;
    for (const n of sink.serverCount.values()) if (n > 1) duplicates += n - 1;
    const peak = Math.max(...rss);
    console.log(`collector outage: ${ids.size} requests logged (${Math.round(ids.size / loadSeconds)}/s, wrk ${/Requests\/sec:\s+\S+/.exec(report)?.[0]}), ` +
      `lost ${lost}, duplicates ${duplicates}; RSS baseline ${baseline.toFixed(0)} MiB, peak during the outage ${peak.toFixed(0)} MiB ` +
      `(samples ${rss.map((r) => r.toFixed(0)).join(' ')}); max spans queued ${maxQueued}; export failures ${during.get('nginx_otel_sidecar_export_failures_total')}; ` +
      `drained ${drainedAfter.toFixed(1)} s after the collector came back; /healthz said: ${unhealthySeen.trim()}`);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(peak).toBeLessThan(RSS_BOUND_MIB);
    // Reading paused: the queue filled up to its bound and no further.
    expect(maxQueued).toBeLessThanOrEqual(MAX_QUEUED + 4096 * 3); // + one chunk's spans
    expect(during.get('nginx_otel_sidecar_checkpoint_lag_bytes')).toBeGreaterThan(0);
    expect(unhealthySeen).toMatch(/^export has failed continuously for \d+ s/);
    expect(after.get('nginx_otel_sidecar_spans_queued')).toBe(0);
    expect(after.get('nginx_otel_sidecar_spans_failed_total')).toBe(0);
  }, 240_000);
});
