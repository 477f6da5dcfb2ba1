// Issue #2 §7, the crime: SYNs to one upstream are dropped at random by iptables, so some
// connects wait for the kernel's SYN retransmission (1 s with this kernel's defaults). The
// sidecar must show those as `connect` spans of ≈1 s, flagged as suspected retransmits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, runConcurrently } from '../support/http-client.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { startSidecar, type Sidecar } from '../support/sidecar.ts';
import { dropSyns, type SynDrop } from '../support/syn-drop.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const REQUESTS = 40;

describe('dropped SYNs become ≈1 s connect spans', () => {
  let receiver: OtlpReceiver;
  let upstream: Upstream;
  let nginx: NginxInstance;
  let sidecar: Sidecar;
  let drop: SynDrop | undefined;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream({ name: 'victim' });
    nginx = await startNginx({
      http: (ctx) => `
        server {
          listen ${ctx.listen()};
          location / { proxy_pass http://${upstream.address}; proxy_connect_timeout 10s; }
        }`,
    });
    sidecar = startSidecar(['run', '--file', nginx.accessLog, '--start-at', 'beginning', '--endpoint', receiver.url, '--status-interval', '0']);
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
    await receiver?.close();
  });

  it('flags every connect that waited for a retransmission, and only those', async () => {
    const spans = await receiver.waitForSpans(REQUESTS * 3, 30_000);
    const connects = spans.filter((s) => s.name === 'connect');
    expect(connects).toHaveLength(REQUESTS);
    const slow = connects.filter((s) => s.duration >= 0.99);
    // With p = 0.3 per SYN, P(no request of 40 hit) = 0.7^40 ≈ 6e-7.
    expect(slow.length).toBeGreaterThan(0);
    for (const s of slow) {
      expect(s.attributes['nginx.upstream.connect.syn_retransmit_suspected']).toBe(true);
      const step = s.attributes['nginx.upstream.connect.syn_retransmit_step'] as number;
      expect([1, 2, 3, 4, 5]).toContain(step);
      expect(s.duration - step).toBeLessThan(0.2 + 0.05 * (step - 1));
    }
    // At least one waited exactly one retransmission: ≈1 s.
    expect(slow.some((s) => s.duration >= 0.99 && s.duration < 1.2)).toBe(true);
    for (const s of connects.filter((c) => c.duration < 0.99)) {
      expect(s.attributes['nginx.upstream.connect.syn_retransmit_suspected']).toBeUndefined();
    }
    // The slow connect shows up in the request's duration too.
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    for (const s of slow) {
      const attempt = byId.get(s.parentSpanId)!;
      const server = byId.get(attempt.parentSpanId)!;
      expect(server.duration).toBeGreaterThanOrEqual(s.duration - 0.002);
      expect(attempt.attributes['nginx.upstream.connect_time']).toBeCloseTo(s.duration, 3);
    }
  });
});
