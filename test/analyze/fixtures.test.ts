// analyze on the access logs recorded from real nginx in test/fixtures/ (see its README).
// Expected figures are computed independently from the raw lines (JSON.parse + split), never
// pinned: a re-recording changes ports and counts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeFiles, analyzeLines, type AnalysisResult } from '../../src/analyze/analyze.js';
import { toJsonReport } from '../../src/analyze/json-report.js';
import { JsonLineParser } from '../../src/parse/json-line-parser.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const fixture = (name: string): string => join(FIXTURES, name);

interface RawAttempt { address: string; status: string; connect: string }

/** Every attempt of a recorded log, straight from the JSON (independent of the analyzer). */
function rawAttempts(name: string): RawAttempt[] {
  const out: RawAttempt[] = [];
  for (const line of readFileSync(fixture(name), 'utf8').split('\n')) {
    if (line === '') continue;
    const o = JSON.parse(line) as Record<string, string>;
    if (o.upstream_addr === '' || o.upstream_addr === '-') continue;
    const addrs = o.upstream_addr.split(/, | : /);
    const statuses = o.upstream_status.split(/, | : /);
    const connects = o.upstream_connect_time.split(/, | : /);
    addrs.forEach((address, i) => out.push({ address, status: statuses[i], connect: connects[i] }));
  }
  return out;
}

/** Connects of `address` in [from, to) seconds. */
function connectsBetween(attempts: RawAttempt[], address: string, from: number, to: number): number {
  return attempts.filter((a) => a.address === address && a.connect !== '-' && Number(a.connect) >= from && Number(a.connect) < to).length;
}

function upstream(result: AnalysisResult, address: string) {
  const u = result.upstreams.find((x) => x.address === address);
  if (u === undefined) throw new Error(`no upstream ${address} in ${result.upstreams.map((x) => x.address).join(', ')}`);
  return u;
}

/** The address whose connects reach ≥ 0.99 s most often: the one behind the SYN-drop rule. */
function droppyAddress(attempts: RawAttempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts) if (a.connect !== '-' && Number(a.connect) >= 0.99) counts.set(a.address, (counts.get(a.address) ?? 0) + 1);
  return [...counts.entries()].sort((x, y) => y[1] - x[1])[0][0];
}

describe('analyze: SYN drops recorded with iptables (linear schedule, Linux ≥ 6.5 default)', async () => {
  const name = 'syn-drop-linear.json.log';
  const raw = rawAttempts(name);
  const droppy = droppyAddress(raw);
  const result = await analyzeFiles([fixture(name)]);

  it('flags exactly the upstream whose SYNs were dropped', () => {
    expect(result.upstreams.filter((u) => u.signature.suspected).map((u) => u.address)).toEqual([droppy]);
    expect(result.upstreams[0].address).toBe(droppy);
    expect(result.lines).toBe(300);
    expect(result.malformed).toBe(0);
  });

  it('counts the ≈1 s step exactly as the raw connect times say', () => {
    const u = upstream(result, droppy);
    const oneSecond = u.signature.steps.find((s) => s.step === 1);
    expect(oneSecond?.count).toBeGreaterThan(0);
    expect(oneSecond?.count).toBe(connectsBetween(raw, droppy, 0.995, 1.2));
    expect(oneSecond?.significant).toBe(true);
    expect(u.signature.steps.find((s) => s.step === 2)?.count).toBe(connectsBetween(raw, droppy, 1.995, 2.25));
    expect(u.signature.suspectedConnects).toBe(connectsBetween(raw, droppy, 0.995, 100));
    expect(u.signature.medianConnect).toBeLessThan(0.01);
    expect(u.signature.schedule).toBe('linear');
  });

  it('says so in one verdict naming the address, and explains the p99', () => {
    const u = upstream(result, droppy);
    expect(u.verdict.startsWith(`${droppy}: `)).toBe(true);
    expect(u.verdict).toContain('stalled for exactly one SYN retransmission (≈1 s)');
    expect(u.verdict).toContain('Typical of dropped SYNs');
    expect(u.signature.p99Share).toBeGreaterThan(0.9);
    expect(u.signature.requestP99).toBeGreaterThan(1);
    expect(u.signature.requestP99WithoutStalled).toBeLessThan(0.5);
  });

  it('leaves the healthy member of the group alone, and infers the group only if nginx retried across it', () => {
    const healthy = result.upstreams.find((u) => u.address !== droppy)!;
    expect(healthy.signature.suspected).toBe(false);
    expect(healthy.verdict).toContain('no signature found');
    expect(healthy.signature.suspectedConnects).toBe(0);
  });
});

describe('analyze: SYN drops with the classic exponential backoff (tcp_syn_linear_timeouts=0 in a netns)', async () => {
  const name = 'syn-drop-classic.json.log';
  const raw = rawAttempts(name);
  const droppy = droppyAddress(raw);
  const result = await analyzeFiles([fixture(name)]);
  const u = upstream(result, droppy);

  it('flags the upstream, sees the 1 s and 3 s steps and calls the schedule classic', () => {
    expect(u.signature.suspected).toBe(true);
    expect(u.signature.steps.find((s) => s.step === 1)?.count).toBe(connectsBetween(raw, droppy, 0.995, 1.2));
    expect(u.signature.steps.find((s) => s.step === 3)?.count).toBe(connectsBetween(raw, droppy, 2.995, 3.3));
    expect(u.signature.steps.some((s) => s.step === 2)).toBe(false);
    expect(u.signature.schedule).toBe('classic');
    expect(result.upstreams.filter((x) => x.signature.suspected)).toHaveLength(1);
  });

  it('counts the 7 s stalls despite late timers (drift allowance), and the connect timeouts', () => {
    expect(u.signature.steps.find((s) => s.step === 7)?.count ?? 0).toBe(connectsBetween(raw, droppy, 6.995, 7.5));
    const timeouts = raw.filter((a) => a.address === droppy && a.connect === '-' && a.status === '504').length;
    expect(u.attempts.connectTimedOut).toBe(timeouts);
    if (timeouts > 0) expect(u.verdict).toContain(`${timeouts} more timed out`);
  });

  it('puts both servers in one inferred group when nginx failed over between them', () => {
    const failedOver = raw.some((a) => a.address === droppy && a.status === '504');
    if (!failedOver) return;
    const group = result.groups.find((g) => g.members.includes(droppy));
    expect(group?.members).toHaveLength(2);
    expect(group?.signature.suspected).toBe(true);
  });
});

describe('analyze: no false alarms', () => {
  it('healthy log: "no signature found" for every upstream, nothing suspected', async () => {
    const result = await analyzeFiles([fixture('healthy.json.log')]);
    expect(result.upstreams.length).toBeGreaterThanOrEqual(2);
    for (const u of result.upstreams) {
      expect(u.signature.suspected).toBe(false);
      expect(u.signature.suspectedConnects).toBe(0);
      expect(u.verdict).toBe(`${u.address}: no signature found: none of ${u.signature.connects} connects landed just above a SYN-retransmission step (median ${Math.round(u.signature.medianConnect! * 1000)} ms, max ${Math.round(u.attempts.connect.max! * 1000)} ms).`);
    }
    expect(toJsonReport(result).suspected_upstreams).toBe(0);
  });

  it('steady-slow log (every connect ≈ 40 ms over a delayed link): no signature, median ≈ 40 ms', async () => {
    const result = await analyzeFiles([fixture('steady-slow.json.log')]);
    for (const u of result.upstreams) {
      expect(u.signature.suspected).toBe(false);
      expect(u.verdict).toContain('no signature found');
      expect(u.signature.medianConnect).toBeGreaterThan(0.035);
      expect(u.signature.medianConnect).toBeLessThan(0.06);
    }
  });

  it('blackholed upstream (every SYN dropped, proxy_connect_timeout): timeouts counted, no signature claimed', async () => {
    const name = 'connect-timeout.json.log';
    const raw = rawAttempts(name);
    const result = await analyzeFiles([fixture(name)]);
    for (const u of result.upstreams) {
      expect(u.signature.suspected).toBe(false);
      expect(u.attempts.connectTimedOut).toBe(raw.filter((a) => a.address === u.address && a.connect === '-' && a.status === '504').length);
    }
    expect(result.upstreams.reduce((n, u) => n + u.attempts.connectTimedOut, 0)).toBeGreaterThan(0);
  });
});

describe('analyze: counts and groups on the other recorded scenarios', () => {
  it('retries: attempts, retries, refused connects per address; the group of the upstream block', async () => {
    const name = 'retries.json.log';
    const raw = rawAttempts(name);
    const result = await analyzeFiles([fixture(name)]);
    for (const u of result.upstreams) {
      const mine = raw.filter((a) => a.address === u.address);
      expect(u.attempts.attempts).toBe(mine.length);
      expect(u.attempts.connectRefused).toBe(mine.filter((a) => a.connect === '-' && a.status === '502').length);
      expect(u.attempts.connect.count).toBe(mine.filter((a) => a.connect !== '-').length);
    }
    const retries = result.upstreams.reduce((n, u) => n + u.attempts.retries, 0);
    const failedOver = result.upstreams.reduce((n, u) => n + u.attempts.failedOver, 0);
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBe(failedOver); // every retry follows a failed-over attempt (no internal redirects here)
    expect(result.groups.length).toBeGreaterThanOrEqual(1);
    expect(result.groups[0].members.length).toBeGreaterThanOrEqual(2);
  });

  it('connect-refused: the upstream block name nginx logs when no server is live is kept apart', async () => {
    const result = await analyzeFiles([fixture('connect-refused.json.log')]);
    const names = result.upstreams.filter((u) => u.kind === 'upstream-name');
    expect(names.map((u) => u.address)).toContain('dead_pool');
    const dead = names.find((u) => u.address === 'dead_pool')!;
    expect(dead.attempts.noLiveUpstream).toBeGreaterThan(0);
    expect(dead.attempts.connectRefused).toBe(0);
    expect(dead.verdict).toContain("upstream block's name");
    expect(result.upstreams.filter((u) => u.kind === 'server').every((u) => u.attempts.connectRefused > 0)).toBe(true);
  });

  it('internal-redirect: attempt lists split at " : "; a block name inside a list labels its group', async () => {
    const result = await analyzeFiles([fixture('internal-redirect.json.log')]);
    // "A, retrying : C" and "A, B : C": A and B form the group named "retrying"; C (after the redirect) is not in it.
    const group = result.groups.find((g) => g.name === 'retrying');
    expect(group).toBeDefined();
    expect(group!.members).toHaveLength(2);
    const raw = readFileSync(fixture('internal-redirect.json.log'), 'utf8');
    const lists = [...raw.matchAll(/"upstream_addr":"([^"]*)"/g)].map((m) => m[1]);
    const redirectTargets = lists.filter((l) => l.includes(' : ')).map((l) => l.split(' : ')[1]);
    for (const target of redirectTargets) expect(group!.members).not.toContain(target);
  });

  it('internal redirects and unix sockets are read without loss', async () => {
    for (const name of ['internal-redirect.json.log', 'unix-socket.json.log']) {
      const raw = rawAttempts(name);
      const result = await analyzeFiles([fixture(name)]);
      expect(result.malformed).toBe(0);
      expect(result.upstreams.reduce((n, u) => n + u.attempts.attempts, 0)).toBe(raw.length);
    }
    const unix = await analyzeFiles([fixture('unix-socket.json.log')]);
    expect(unix.upstreams.some((u) => u.address.startsWith('unix:') && u.kind === 'server')).toBe(true);
  });
});

describe('analyze: the JSON field scan gives the same answers as the full parser', () => {
  const names = [
    'syn-drop-linear.json.log', 'syn-drop-classic.json.log', 'healthy.json.log', 'steady-slow.json.log', 'retries.json.log',
    'connect-refused.json.log', 'connect-timeout.json.log', 'internal-redirect.json.log', 'unix-socket.json.log',
    'proxy-basic.json.log', 'escapes.json.log', 'escapes.default.log',
  ];
  for (const name of names) {
    it(name, async () => {
      const fast = toJsonReport(await analyzeFiles([fixture(name)]));
      const full = toJsonReport(await analyzeFiles([fixture(name)], { parser: new JsonLineParser() }));
      const inMemory = toJsonReport(analyzeLines(readFileSync(fixture(name), 'latin1').split('\n')));
      fast.elapsed_seconds = full.elapsed_seconds = inMemory.elapsed_seconds = 0;
      expect(fast).toEqual(full);
      expect({ ...inMemory, inputs: fast.inputs, malformed_examples: fast.malformed_examples }).toEqual(fast);
    });
  }
});
