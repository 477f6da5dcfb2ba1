// Issue #5 §3: sampling decided after the fact, on logs recorded from real nginx.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { runCli } from '../support/sidecar.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const lines = (name: string) => readFileSync(fixture(name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
const SERVER = 2;

describe('tail sampling', () => {
  let receiver: OtlpReceiver;
  beforeEach(async () => { receiver = await startOtlpReceiver(); });
  afterEach(async () => { await receiver.close(); });

  const servers = () => receiver.spans.filter((s) => s.kind === SERVER).map((s) => s.attributes['nginx.request_id'] as string);

  it('keeps every request with a SYN-retransmit connect even at ratio 0, and drops the healthy ones', async () => {
    const { code, stderr } = await runCli(['replay', '--sample-ratio', '0', '--endpoint', receiver.url, fixture('syn-drop-linear.json.log')]);
    expect(code, stderr).toBe(0);
    const kept = new Set(servers());
    const log = lines('syn-drop-linear.json.log');
    const stalled = log.filter((l) => l.upstream_connect_time.split(', ').some((t) => Number(t) >= 0.99));
    expect(stalled.length).toBeGreaterThan(10);
    for (const l of stalled) expect(kept.has(l.request_id)).toBe(true);
    // Fast, single-attempt 200s without a sampled parent are gone.
    const ordinary = log.filter((l) => l.status === '200' && !l.upstream_addr.includes(',') && Number(l.upstream_connect_time) < 0.1 && l.http_traceparent === '');
    expect(ordinary.length).toBeGreaterThan(10);
    for (const l of ordinary) expect(kept.has(l.request_id)).toBe(false);
  });

  it('keeps a consistent share by trace id at ratio 0.5', async () => {
    const first = await runCli(['replay', '--sample-ratio', '0.5', '--no-honour-parent-sampling', '--endpoint', receiver.url, fixture('healthy.json.log')]);
    expect(first.code, first.stderr).toBe(0);
    const once = servers().sort();
    receiver.spans.length = 0;
    await runCli(['replay', '--sample-ratio', '0.5', '--no-honour-parent-sampling', '--endpoint', receiver.url, fixture('healthy.json.log')]);
    expect(servers().sort()).toEqual(once);
    const total = lines('healthy.json.log').length;
    expect(once.length / total).toBeGreaterThan(0.4);
    expect(once.length / total).toBeLessThan(0.6);
  });

  it("follows the caller's sampled flag for ordinary requests", async () => {
    const { code } = await runCli(['replay', '--sample-ratio', '0', '--endpoint', receiver.url, fixture('proxy-basic.json.log')]);
    expect(code).toBe(0);
    const kept = new Set(servers());
    for (const l of lines('proxy-basic.json.log')) {
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(l.http_traceparent);
      if (m === null || /^0+$/.test(m[1]) || Number(l.status) >= 500 || l.upstream_addr.includes(',')) continue;
      expect(kept.has(l.request_id), l.http_traceparent).toBe(m[3] === '01');
    }
  });
});
