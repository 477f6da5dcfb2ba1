// The building blocks, one rule at a time: the ms histogram, the step windows, rules R1–R3
// on connect-time distributions built from numbers (not log lines: the end-to-end behaviour
// is asserted on recorded logs in fixtures.test.ts and live-nginx.test.ts), and the
// terminal histogram's buckets.
import { describe, expect, it } from 'vitest';
import { MsHistogram } from '../../src/analyze/ms-histogram.js';
import { DETECTION_RULES, detectSynSignature, stepOf } from '../../src/analyze/syn-signature.js';
import { BUCKETS, renderHistogram } from '../../src/analyze/terminal-histogram.js';
import { AttemptStats, RequestStats } from '../../src/analyze/upstream-stats.js';
import { verdict } from '../../src/analyze/verdict.js';

function hist(values: Array<[seconds: number, count: number]>): MsHistogram {
  const h = new MsHistogram();
  for (const [s, n] of values) h.addMs(Math.round(s * 1000), n);
  return h;
}

/** An upstream whose connects follow `values`; every request had one attempt. */
function upstream(values: Array<[number, number]>): { attempts: AttemptStats; requests: RequestStats } {
  const attempts = new AttemptStats();
  const requests = new RequestStats();
  attempts.connect.merge(hist(values));
  attempts.attempts = attempts.connect.count;
  for (const [s, n] of values) {
    requests.requests += n;
    requests.requestTime.addMs(Math.round((s + 0.002) * 1000), n);
    if (stepOf(s) !== undefined) requests.stalledRequestTime.addMs(Math.round((s + 0.002) * 1000), n);
  }
  return { attempts, requests };
}

describe('MsHistogram', () => {
  it('nearest-rank quantiles, max, merge and minus are exact at millisecond resolution', () => {
    const h = new MsHistogram();
    for (let ms = 1; ms <= 1000; ms++) h.add(ms / 1000);
    expect(h.quantiles([0.5, 0.9, 0.99, 0.999, 1])).toEqual([0.5, 0.9, 0.99, 0.999, 1]);
    expect(h.max).toBe(1);
    const big = hist([[500, 1], [3600, 2]]); // beyond the dense range
    expect(big.quantile(0.5)).toBe(3600);
    expect(big.max).toBe(3600);
    const both = new MsHistogram().merge(h).merge(big);
    expect(both.count).toBe(1003);
    expect(both.minus(big).quantiles([0.5, 1])).toEqual([0.5, 1]);
    expect(new MsHistogram().quantile(0.5)).toBeUndefined();
    expect(h.countAtOrAbove(0.991)).toBe(10);
  });
});

describe('stepOf: windows above the retransmission steps', () => {
  it('[step − 5 ms, step + tolerance) for the 1 s step', () => {
    expect(stepOf(0.994)).toBeUndefined();
    expect(stepOf(0.995)).toBe(1);
    expect(stepOf(1.199)).toBe(1);
    expect(stepOf(1.2)).toBeUndefined();
    expect(stepOf(1.05, 0.04)).toBeUndefined();
  });

  it('allows for late timers at later steps (5 % of the time past 1 s)', () => {
    expect(stepOf(2.055)).toBe(2);
    expect(stepOf(3.042)).toBe(3);
    expect(stepOf(7.294)).toBe(7); // recorded: classic third retransmission
    expect(stepOf(7.6)).toBeUndefined();
  });
});

describe('detectSynSignature: rules R1–R3', () => {
  it('flags a 1 s cluster far above a fast normal (R1–R3 all pass)', () => {
    const { attempts, requests } = upstream([[0, 900], [0.001, 80], [1.02, 20]]);
    const sig = detectSynSignature(attempts, requests);
    expect(sig.suspected).toBe(true);
    expect(sig.suspectedConnects).toBe(20);
    expect(sig.primary?.step).toBe(1);
    expect(sig.p99Share).toBe(1);
    expect(sig.requestP99WithoutStalled).toBeLessThan(0.01);
  });

  it('R1: not when the median connect is not far below the step (steady ≈1.05 s, or a 300 ms normal)', () => {
    const steady = upstream([[1.04, 300], [1.05, 600], [1.06, 100]]);
    expect(detectSynSignature(steady.attempts, steady.requests)).toMatchObject({ suspected: false, reason: 'normal-is-slow' });
    const slow = upstream([[0.3, 900], [1.01, 100]]);
    expect(detectSynSignature(slow.attempts, slow.requests)).toMatchObject({ suspected: false, reason: 'normal-is-slow' });
    const justFastEnough = upstream([[DETECTION_RULES.maxMedianShareOfStep, 900], [1.01, 100]]);
    expect(detectSynSignature(justFastEnough.attempts, justFastEnough.requests).suspected).toBe(true);
  });

  it('R2: not when the cluster is part of a broad slow tail', () => {
    const tail: Array<[number, number]> = [[0.002, 2000]];
    for (let ms = 500; ms < 3000; ms += 10) tail.push([ms / 1000, 3]);
    const { attempts, requests } = upstream(tail);
    const sig = detectSynSignature(attempts, requests);
    expect(sig.suspected).toBe(false);
    expect(sig.reason).toBe('not-standing-out');
    expect(verdict('x:1', sig, attempts)).toMatch(/^x:1: no signature found: the \d+ connects at ≈\d s do not stand out from a broad slow tail \(\d+ just below the step\)\.$/);
  });

  it('R3: not for fewer than 5 connects, nor for less than 0.01 % of the connects', () => {
    const few = upstream([[0.001, 1000], [1.01, DETECTION_RULES.minCount - 1]]);
    expect(detectSynSignature(few.attempts, few.requests)).toMatchObject({ suspected: false, reason: 'too-few' });
    const rare = upstream([[0.001, 100_000], [1.01, 9]]);
    expect(detectSynSignature(rare.attempts, rare.requests)).toMatchObject({ suspected: false, reason: 'too-few' });
    const enough = upstream([[0.001, 100_000], [1.01, 11]]);
    expect(detectSynSignature(enough.attempts, enough.requests).suspected).toBe(true);
  });

  it('tells the schedule from steps that exist in only one of them', () => {
    const linear = upstream([[0.001, 1000], [1.01, 50], [2.03, 10]]);
    expect(detectSynSignature(linear.attempts, linear.requests).schedule).toBe('linear');
    const classic = upstream([[0.001, 1000], [1.01, 50], [3.03, 10], [15.2, 1]]);
    expect(detectSynSignature(classic.attempts, classic.requests).schedule).toBe('classic');
    const unknown = upstream([[0.001, 1000], [1.01, 50]]);
    expect(detectSynSignature(unknown.attempts, unknown.requests).schedule).toBe('unknown');
  });
});

describe('terminal histogram', () => {
  it('octaves below 1 s, one row per second from 1 to 8 s, half octaves to 64 s', () => {
    expect(BUCKETS.map((b) => b.label)).toEqual([
      '0 ms', '1 ms', '2–4 ms', '4–8 ms', '8–16 ms', '16–32 ms', '32–63 ms', '63–125 ms', '125–250 ms', '250–500 ms', '500 ms–1 s',
      '1–2 s', '2–3 s', '3–4 s', '4–5 s', '5–6 s', '6–7 s', '7–8 s', '8–11.3 s', '11.3–16 s', '16–22.6 s', '22.6–32 s', '32–45.3 s', '45.3–64 s', '≥ 64 s',
    ]);
  });

  it('renders the filled range, collapses empty runs, scales bars by log count and marks steps', () => {
    const lines = renderHistogram(hist([[0, 1000], [0.001, 100], [1.02, 10]]), { width: 20, marks: [{ at: 1.001, note: '≈1 s step' }] });
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\s+0 ms │█{20} 1,000 \(90 %\)/);
    expect(lines[2]).toMatch(/^\s+⋮ │$/);
    expect(lines[3]).toMatch(/^\s+1–2 s │█{7} +10 \(0\.9 %\) +◀ ≈1 s step$/);
  });
});
