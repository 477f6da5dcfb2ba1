// Issue #4 §4: what AWS X-Ray receives. A recorded access log (test/fixtures/syn-drop-classic.json.log:
// real nginx, SYNs to one upstream dropped, 75 requests with an X-Amzn-Trace-Id header) is
// replayed with the sidecar's `replay` CLI into the shipped agent collector config
// (otel-collector/config.yaml, our otelcol-nos build), whose contrib `awsxray` exporter is
// pointed at a local capture of the X-Ray API (PutTraceSegments), in local mode, with fake
// credentials and AWS_EC2_METADATA_DISABLED=true. No request leaves 127.0.0.1.
//
// Annotation keys: in collector v0.159.0 the exporter's `exporter.xray.allowDot` feature gate
// is beta, i.e. ON by default, so indexed attributes keep their dots
// (`nginx.upstream.connect_time`); with `--feature-gates=-exporter.xray.allowDot` they become
// `nginx_upstream_connect_time`. Both are checked.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll } from '../support/cleanup.ts';
import { REPO_ROOT } from '../support/nginx.ts';
import { runCli } from '../support/sidecar.ts';
import { flagged, parseLogLine, type LoggedRequest } from './access-log.ts';
import { resolveBinaries, startShippedCollector, type Collector } from './backends.ts';
import { startXrayCapture, type SegmentDocument, type XrayCapture } from './xray-capture.ts';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/syn-drop-classic.json.log');

const bins = resolveBinaries();

const VARIANTS = [
  { title: 'as shipped (exporter.xray.allowDot on: annotation keys keep their dots)', gates: [] as string[], key: (k: string) => k },
  { title: 'with --feature-gates=-exporter.xray.allowDot (dots become underscores)', gates: ['-exporter.xray.allowDot'], key: (k: string) => k.replace(/\./g, '_') },
];

if (!bins.ok && bins.mustFail) {
  describe('X-Ray translation of the sidecar\'s spans', () => {
    it('has the collector binary it needs (CI=true: never skipped)', () => {
      throw new Error(`cannot run the e2e test in CI: ${bins.reason}`);
    });
  });
} else if (!bins.ok) {
  process.stderr.write(`test/e2e/xray.test.ts skipped: ${bins.reason}\n`);
  describe.skip(`X-Ray translation of the sidecar's spans — skipped: ${bins.reason}`, () => {
    it('skipped', () => {});
  });
} else {
  const otelcol = bins.bins.otelcol;
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n');
  const logged: LoggedRequest[] = lines.map(parseLogLine);
  const withXray = logged.filter((r) => r.header === 'xray-root' || r.header === 'xray-parent');

  describe.each(VARIANTS)('X-Ray translation of the sidecar\'s spans, $title', ({ gates, key }) => {
    let capture: XrayCapture | undefined;
    let collector: Collector | undefined;
    let docs: SegmentDocument[] = [];
    let exported = 0;

    beforeAll(async () => {
      capture = await startXrayCapture();
      collector = await startShippedCollector(otelcol, capture.url, { featureGates: gates });
      const replay = await runCli(['replay', FIXTURE, '--endpoint', collector.tracesUrl]);
      expect(replay.code, replay.stderr).toBe(0);
      // "replayed 300 lines (0 malformed) → 822 spans exported, 0 failed, in … s" (on stderr)
      const summary = /replayed 300 lines \(0 malformed\) → (\d+) spans exported, 0 failed/.exec(replay.stderr + replay.stdout);
      expect(summary, replay.stderr).not.toBeNull();
      exported = Number(summary![1]);
      docs = await capture.waitForDocuments(exported);
    }, 60_000);

    afterAll(async () => {
      try { await collector?.stop(); } catch (err) { process.stderr.write(`[xray] ${(err as Error).message}\n`); }
      try { await capture?.close(); } catch (err) { process.stderr.write(`[xray] ${(err as Error).message}\n`); }
      cleanupAll();
    });

    it('sends every span as a PutTraceSegments document, signed with the configured (fake) credentials', () => {
      // Everything but the ordinary requests whose caller said "not sampled" (traceparent
      // flags 00: replay follows the caller's decision unless the request was slow, retried,
      // failed or a 5xx), one span per request plus two per upstream attempt.
      const kept = logged.filter((r) => !(r.traceFlags === '00' && r.attempts.length === 1 && r.status < 500
        && r.attempts[0].connect !== undefined && r.attempts[0].connect < 0.5));
      expect(kept.length).toBeLessThan(logged.length);
      expect(exported).toBe(kept.reduce((n, r) => n + 1 + 2 * r.attempts.length, 0));
      expect(docs).toHaveLength(exported);
      const put = capture!.requests[0];
      expect(put).toMatchObject({ method: 'POST', path: '/TraceSegments' });
      expect(String(put.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDNOSTEST000000000\/\d{8}\/us-east-1\/xray\/aws4_request/);
      for (const d of docs) expect(d.trace_id).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    });

    it('puts each request with an X-Amzn-Trace-Id under the incoming X-Ray root: nginx segment → remote CLIENT subsegment → connect subsegment', () => {
      expect(withXray.length).toBe(75);
      for (const r of withXray) {
        const xrayId = `1-${r.traceId.slice(0, 8)}-${r.traceId.slice(8)}`;
        const mine = docs.filter((d) => d.trace_id === xrayId);
        expect(mine, `documents of ${xrayId}`).toHaveLength(1 + 2 * r.attempts.length);
        const segment = mine.find((d) => d.id === r.requestId.slice(0, 16))!;
        expect(segment, `segment of ${r.requestId}`).toBeDefined();
        expect(segment.type).toBeUndefined(); // a segment, not a subsegment
        expect(segment.name).toBe('nginx');
        if (r.header === 'xray-parent') expect(segment.parent_id).toBe(r.callerSpanId);
        else expect(segment.parent_id).toBeUndefined();
        expect(segment.annotations?.[key('nginx.request_id')]).toBe(r.requestId);
        expect(segment.http?.response?.status).toBe(r.status);

        const client = mine.find((d) => d.id === r.requestId.slice(16))!;
        expect(client).toMatchObject({ type: 'subsegment', namespace: 'remote', parent_id: segment.id });
        expect(client.annotations?.[key('nginx.upstream.connect_time')]).toBe(r.attempts[0].connect);
        expect(client.http?.response?.status).toBe(Number(r.attempts[0].status));

        const connect = mine.find((d) => d.name === 'connect' && d.parent_id === client.id)!;
        expect(connect, `connect subsegment of ${r.requestId}`).toMatchObject({ type: 'subsegment' });
        expect(connect.namespace).toBeUndefined();
        expect(connect.end_time! - connect.start_time).toBeCloseTo(r.attempts[0].connect!, 3);
        const suspected = connect.annotations?.[key('nginx.upstream.connect.syn_retransmit_suspected')];
        if (r.steps[0] !== undefined) expect(suspected).toBe(true);
        else expect(suspected).toBeUndefined();
      }
    });

    it('makes the slow connect a searchable annotation: connect time and the suspected flag', () => {
      const slow = withXray.filter(flagged);
      expect(slow.length).toBeGreaterThan(0);
      const connectKey = key('nginx.upstream.connect_time');
      const flagKey = key('nginx.upstream.connect.syn_retransmit_suspected');
      // What an X-Ray filter expression `annotation.<flag> = true` would select, by trace.
      const flaggedTraces = new Set(docs.filter((d) => d.annotations?.[flagKey] === true).map((d) => d.trace_id));
      const expected = new Set(logged.filter(flagged).map((r) => `1-${r.traceId.slice(0, 8)}-${r.traceId.slice(8)}`));
      expect([...flaggedTraces].sort()).toEqual([...expected].sort());
      for (const r of slow) {
        const client = docs.find((d) => d.id === r.requestId.slice(16))!;
        expect(client.annotations![connectKey]).toBeGreaterThanOrEqual(0.995);
        expect(typeof client.annotations![connectKey]).toBe('number');
        // Only the indexed attributes become annotations (X-Ray allows 50 per document).
        expect(client.annotations![key('nginx.upstream.connect.syn_retransmit_step')]).toBeUndefined();
      }
    });
  });
}
