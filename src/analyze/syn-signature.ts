/**
 * Detects the SYN-retransmit signature in one upstream's connect times.
 *
 * A dropped SYN (or SYN-ACK) makes the kernel resend the SYN after its retransmission
 * timeout, so the connect lasts "step + one normal connect": 1 s, 3 s, 7 s… with classic
 * backoff, 1, 2, 3, 4 s… with Linux ≥ 6.5's tcp_syn_linear_timeouts. Connects are counted
 * per step (steps from model/syn-retransmit) in the window [step − 5 ms, step + tolerance +
 * drift), see model/syn-retransmit. Counting is not enough, because an upstream can be slow for other
 * reasons; a step cluster is taken as the signature only when it stands out. The rules,
 * applied to each step's cluster:
 *
 *  R1 normal connects are far faster than the step: the upstream's median connect time is
 *     at most 20 % of the step (≤ 200 ms for the 1 s step). A steady 1.05 s connect (a far
 *     or slow path, a slow TLS handshake — nginx counts it in $upstream_connect_time) puts
 *     the median in the cluster itself, so it is the upstream's normal, not a stall. The
 *     rule also keeps the window meaningful: a stalled connect lands at step + normal
 *     connect time, which must fit in the tolerance. (Its cost: an upstream whose SYNs are
 *     dropped more often than not is not flagged; its median already shows ≈1 s.)
 *  R2 the cluster is a spike, not part of a broad slow tail: it holds at least 3× as many
 *     connects as an equally wide window just below the step. Congested or overloaded
 *     upstreams spread connects smoothly across seconds; retransmissions pile up right
 *     above the step.
 *  R3 enough evidence: at least 5 connects and at least 0.01 % of the upstream's connects.
 *
 * An upstream is suspected when some step passes R1–R3. Its suspected connects are those
 * of every step passing R1 and R2 (higher steps are naturally rare: a connect needs two or
 * more drops in a row to reach them). The retransmission schedule is inferred from which
 * steps occur (see LINEAR_ONLY below); both lists come from model/syn-retransmit.
 *
 * Impact on the request-time p99: of the requests at or above the p99 of `$request_time`,
 * the share that were "stalled" at this upstream — a connect inside a step window, or a
 * connect that timed out (status 504 without a connect time: every SYN within
 * proxy_connect_timeout went unanswered) — and the p99 the requests would have without them.
 */
import { BELOW_STEP, CLASSIC_STEPS, DEFAULT_STEP_TOLERANCE, LINEAR_STEPS, stepWindow, synRetransmitStep } from '../model/syn-retransmit.js';
import type { MsHistogram } from './ms-histogram.js';
import type { AttemptStats, RequestStats } from './upstream-stats.js';

/** The step a connect time sits just above: the span model's rule, so analyze and spans agree. */
export const stepOf = synRetransmitStep;

/** The thresholds of rules R1–R3 (see the file comment). */
export const DETECTION_RULES = {
  /** R1: median connect time ≤ this × step. */
  maxMedianShareOfStep: 0.2,
  /** R2: cluster ≥ this × the count in the window just below the step. */
  minSpikeRatio: 3,
  /** R3: minimum connects in the cluster. */
  minCount: 5,
  /** R3: minimum share of the upstream's connects in the cluster. */
  minShare: 0.0001,
} as const;

/**
 * Steps that occur in only one schedule tell which one the kernel used (linear: 2, 4, 5,
 * 11, 19, 35 s; classic: 15, 31, 63 s). 3 s and 7 s are in both, but under the linear
 * schedule a connect passes 2 s before it can reach them, so 3 s or 7 s without 2 s is
 * classic too.
 */
const LINEAR_ONLY = new Set(LINEAR_STEPS.filter((s) => !CLASSIC_STEPS.includes(s)));
const CLASSIC_ONLY = new Set(CLASSIC_STEPS.filter((s) => !LINEAR_STEPS.includes(s)));
const CLASSIC_PAST_FIRST = CLASSIC_STEPS.filter((s) => s > 1);

export interface StepCluster {
  /** The retransmission step, seconds. */
  step: number;
  /** Connects in [step − 5 ms, step + tolerance + drift). */
  count: number;
  /** Connects in the equally wide window just below the step (rule R2). */
  below: number;
  /** Passes R1 and R2 (and, for a suspected upstream, counts as suspected). */
  standsOut: boolean;
  /** Passes R1, R2 and R3. */
  significant: boolean;
}

/** Why an upstream with connects at some step is not suspected. */
export type NotSuspectedReason = 'no-connects' | 'no-step-connects' | 'normal-is-slow' | 'not-standing-out' | 'too-few';

export type RetransmitSchedule = 'linear' | 'classic' | 'mixed' | 'unknown';

export interface SynSignature {
  /** Connects with a logged connect time. */
  connects: number;
  /** Median connect time, seconds (undefined without connects). */
  medianConnect?: number;
  /** Every step with at least one connect, ascending. */
  steps: StepCluster[];
  suspected: boolean;
  /** Connects in clusters that stand out, when suspected; else 0. */
  suspectedConnects: number;
  /** Why not suspected, when some step had connects or there were none at all. */
  reason?: NotSuspectedReason;
  /** The step cluster that decided (the significant one with most connects, else the largest). */
  primary?: StepCluster;
  schedule?: RetransmitSchedule;
  /** Request-time p99 (s) of the requests that tried this upstream. */
  requestP99?: number;
  /** The same p99 without the stalled requests (a connect in a step window, or timed out). */
  requestP99WithoutStalled?: number;
  /** Share of the requests at or above the request-time p99 that were stalled. */
  p99Share?: number;
  /** Requests stalled at this upstream: a connect in a step window, or a connect timeout. */
  stalledRequests: number;
  /** Connects that timed out (status 504, no connect time). */
  connectTimeouts: number;
}

/** Applies rules R1–R3 to one upstream (an address or a group). */
export function detectSynSignature(attempts: AttemptStats, requests: RequestStats, tolerance = DEFAULT_STEP_TOLERANCE): SynSignature {
  const connect = attempts.connect;
  const connects = connect.count;
  const result: SynSignature = {
    connects,
    medianConnect: connect.quantile(0.5),
    steps: [],
    suspected: false,
    suspectedConnects: 0,
    stalledRequests: requests.stalledRequestTime.count,
    connectTimeouts: attempts.connectTimedOut,
    ...requestImpact(requests),
  };
  if (connects === 0) {
    result.reason = 'no-connects';
    return result;
  }

  const counts = stepCounts(connect, tolerance);
  const median = result.medianConnect ?? 0;
  for (const [step, count] of counts) {
    const width = BELOW_STEP + stepWindow(step, tolerance);
    const below = connect.countBetweenMs(Math.round((step - BELOW_STEP - width) * 1000), Math.round((step - BELOW_STEP) * 1000));
    const r1 = median <= DETECTION_RULES.maxMedianShareOfStep * step;
    const r2 = count >= DETECTION_RULES.minSpikeRatio * below;
    const r3 = count >= DETECTION_RULES.minCount && count >= DETECTION_RULES.minShare * connects;
    result.steps.push({ step, count, below, standsOut: r1 && r2, significant: r1 && r2 && r3 });
  }
  if (result.steps.length === 0) {
    result.reason = 'no-step-connects';
    return result;
  }

  const significant = result.steps.filter((s) => s.significant);
  if (significant.length === 0) {
    const largest = result.steps.reduce((a, b) => (b.count > a.count ? b : a));
    result.primary = largest;
    if (median > DETECTION_RULES.maxMedianShareOfStep * largest.step) result.reason = 'normal-is-slow';
    else if (largest.count < DETECTION_RULES.minSpikeRatio * largest.below) result.reason = 'not-standing-out';
    else result.reason = 'too-few';
    return result;
  }

  result.suspected = true;
  result.primary = significant.reduce((a, b) => (b.count > a.count ? b : a));
  const standing = result.steps.filter((s) => s.standsOut);
  result.suspectedConnects = standing.reduce((sum, s) => sum + s.count, 0);
  const linear = standing.some((s) => LINEAR_ONLY.has(s.step));
  const classic = standing.some((s) => CLASSIC_ONLY.has(s.step)) ||
    (!linear && standing.some((s) => CLASSIC_PAST_FIRST.includes(s.step)));
  result.schedule = linear && classic ? 'mixed' : linear ? 'linear' : classic ? 'classic' : 'unknown';
  return result;
}

/** Connects per retransmission step (only steps with connects), ascending by step. */
export function stepCounts(connect: MsHistogram, tolerance: number): Map<number, number> {
  const counts = new Map<number, number>();
  connect.forEach((ms, n) => {
    if (ms < 990) return;
    const step = stepOf(ms / 1000, tolerance);
    if (step !== undefined) counts.set(step, (counts.get(step) ?? 0) + n);
  });
  return counts;
}

function requestImpact(requests: RequestStats): Pick<SynSignature, 'requestP99' | 'requestP99WithoutStalled' | 'p99Share'> {
  const all = requests.requestTime;
  const stalled = requests.stalledRequestTime;
  const p99 = all.quantile(0.99);
  if (p99 === undefined) return {};
  const atOrAbove = all.countAtOrAbove(p99);
  return {
    requestP99: p99,
    requestP99WithoutStalled: stalled.count === 0 ? p99 : all.minus(stalled).quantile(0.99),
    p99Share: atOrAbove === 0 ? 0 : stalled.countAtOrAbove(p99) / atOrAbove,
  };
}
