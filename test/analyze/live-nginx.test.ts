// analyze on logs recorded here and now from real nginx over a delayed link (two network
// namespaces joined by a link holding every packet for a fixed time: netem where the kernel
// has it, else the harness's userspace TUN bridge), for the cases the committed fixtures do
// not cover:
//  - a steady ≈1.05 s connect (525 ms each way): every connect sits right above the 1 s
//    step, yet it is the upstream's normal — no alarm;
//  - a 40 ms WAN link with 30 % of the SYNs dropped by iptables: the stalls land at
//    ≈1.04 s, above a 40 ms normal — the signature.
// Needs root, ip netns, iptables and TUN (or netem); skipped elsewhere.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFiles, type AnalysisResult } from '../../src/analyze/analyze.js';
import { httpRequest, runConcurrently } from '../support/http-client.ts';
import { freePorts, startNginx } from '../support/nginx.ts';
import { canManipulateNetwork, createDelayedLink, createNetns, dropSyns, probeKernelFacilities } from '../support/syn-drop.ts';
import { startUpstreamProcess } from '../support/upstream.ts';

function facilities(): boolean {
  if (!canManipulateNetwork()) return false;
  const probe = probeKernelFacilities();
  return probe.netns.ok && probe.iptablesStatistic.ok && (probe.netem.ok || probe.tun.ok);
}

const available = facilities();
const dir = mkdtempSync(join(tmpdir(), 'nos-analyze-live-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Records `count` requests through nginx (namespace `front`) to two upstreams (namespace
 * `back`) over a link delaying each packet `delayMs` each way; optionally drops a share of
 * the SYNs arriving at the first upstream. Returns the access log's path and that upstream's address.
 */
async function record(name: string, delayMs: number, count: number, concurrency: number, dropShare?: number): Promise<{ log: string; first: string }> {
  const front = createNetns({ veth: true });
  const back = createNetns({ veth: false });
  try {
    const link = await createDelayedLink(front, back, delayMs);
    const [p1, p2] = await freePorts(2);
    const up1 = await startUpstreamProcess({ netns: back.name, host: link.bAddr, port: p1, name: `${name}-1` });
    const up2 = await startUpstreamProcess({ netns: back.name, host: link.bAddr, port: p2, name: `${name}-2` });
    const drop = dropShare === undefined ? undefined : dropSyns({ port: p1, probability: dropShare, iface: link.bIf, netns: back.name });
    try {
      const nginx = await startNginx({
        netns: front.name,
        host: front.nsAddr,
        http: (ctx) => `
    access_log ${ctx.accessLog} otel_json;
    upstream app {
        server ${up1.address};
        server ${up2.address};
    }
    server {
        listen ${ctx.listen()};
        proxy_connect_timeout 15s;
        location / { proxy_pass http://app; }
    }`,
      });
      try {
        await runConcurrently(count, concurrency, (i) => httpRequest({ host: front.nsAddr, port: nginx.port, path: `/live/${i}`, timeoutMs: 30_000 }));
        const lines = await nginx.waitForLines(count, undefined, 30_000);
        const log = join(dir, `${name}.json.log`);
        writeFileSync(log, lines.join('\n') + '\n', 'latin1');
        return { log, first: up1.address };
      } finally {
        await nginx.stop();
      }
    } finally {
      drop?.();
      await up1.stop();
      await up2.stop();
      link.dispose();
    }
  } finally {
    front.delete();
    back.delete();
  }
}

describe.skipIf(!available)('analyze on live recordings over a delayed link', () => {
  let steady: AnalysisResult;
  let wanDrops: AnalysisResult;
  let wanDroppy: string;

  beforeAll(async () => {
    const a = await record('steady-1050ms', 525, 40, 20);
    steady = await analyzeFiles([a.log]);
    const b = await record('wan-40ms-syn-drops', 20, 150, 30, 0.3);
    wanDrops = await analyzeFiles([b.log]);
    wanDroppy = b.first;
  }, 180_000);

  it('steady ≈1.05 s connects: every connect is at the 1 s step, and no upstream is flagged', () => {
    expect(steady.upstreams.length).toBe(2);
    for (const u of steady.upstreams) {
      expect(u.signature.medianConnect).toBeGreaterThan(1.0);
      expect(u.signature.medianConnect).toBeLessThan(1.2);
      expect(u.signature.steps.find((s) => s.step === 1)?.count).toBeGreaterThan(0);
      expect(u.signature.suspected).toBe(false);
      expect(u.signature.reason).toBe('normal-is-slow');
      expect(u.verdict).toContain('no signature found');
      expect(u.verdict).toContain("are this upstream's normal connect time");
    }
  });

  it('40 ms WAN with dropped SYNs: the dropping upstream is flagged against its 40 ms normal', () => {
    const suspected = wanDrops.upstreams.filter((u) => u.signature.suspected);
    expect(suspected.map((u) => u.address)).toEqual([wanDroppy]);
    const u = suspected[0];
    expect(u.signature.medianConnect).toBeGreaterThan(0.035);
    expect(u.signature.medianConnect).toBeLessThan(0.1);
    expect(u.signature.steps.find((s) => s.step === 1)?.count).toBeGreaterThan(0);
    expect(u.verdict).toMatch(new RegExp(`^${wanDroppy.replace(/\./g, '\\.')}: \\d+ of \\d+ connects .* stalled for exactly one SYN retransmission \\(≈1 s\\)`));
    expect(u.verdict).toMatch(/while a normal connect takes (3\d|4\d|5\d) ms/);
    const other = wanDrops.upstreams.find((x) => x.address !== wanDroppy)!;
    expect(other.signature.suspected).toBe(false);
  });
});
