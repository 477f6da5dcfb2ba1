/**
 * The machine-readable analyze report (`--json`). Times are seconds; absent values are
 * null. Field names are snake_case and only ever added to.
 */
import type { AnalysisResult, GroupAnalysis, UpstreamAnalysis } from './analyze.js';
import type { MsHistogram } from './ms-histogram.js';
import type { SynSignature } from './syn-signature.js';
import type { AttemptStats, RequestStats } from './upstream-stats.js';

export interface TimeSummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

export interface JsonUpstream {
  address: string;
  /** `server`, or `upstream-name` when nginx logged an upstream block's name (no live servers). */
  kind: 'server' | 'upstream-name';
  requests: number;
  attempts: number;
  /** Attempts that were a retry onto this server (not the first try of their list). */
  retries: number;
  /** Attempts after which nginx tried another server. */
  failed_over: number;
  failed_connects: { refused: number; timed_out: number; other: number; no_live_upstreams: number };
  statuses: Record<string, number>;
  connect: TimeSummary;
  header: TimeSummary;
  response: TimeSummary;
  request: TimeSummary & { p99_without_stalled: number | null };
  /** Connects per SYN-retransmission step ("1", "2", "3", …), steps with none left out. */
  steps: Record<string, number>;
  syn_retransmit_suspected: number;
  suspected: boolean;
  signature: {
    median_connect: number | null;
    primary_step: number | null;
    schedule: string | null;
    /** Why not suspected: no-connects, no-step-connects, normal-is-slow, not-standing-out, too-few. */
    reason: string | null;
    stalled_requests: number;
    request_p99: number | null;
    request_p99_without_stalled: number | null;
    /** Share of requests at or above the request-time p99 with a connect at a step. */
    p99_share: number | null;
    clusters: Array<{ step: number; count: number; below: number; stands_out: boolean; significant: boolean }>;
  };
  verdict: string;
}

export interface JsonGroup extends Omit<JsonUpstream, 'address' | 'kind'> {
  name: string | null;
  members: string[];
}

export interface JsonReport {
  lines: number;
  malformed: number;
  records: number;
  proxied_requests: number;
  inputs: string[];
  first_msec: number | null;
  last_msec: number | null;
  step_tolerance: number;
  elapsed_seconds: number;
  suspected_upstreams: number;
  upstreams: JsonUpstream[];
  groups: JsonGroup[];
  malformed_examples: Array<{ input: string; line: number; message: string }>;
}

export function toJsonReport(r: AnalysisResult): JsonReport {
  return {
    lines: r.lines,
    malformed: r.malformed,
    records: r.records,
    proxied_requests: r.proxiedRecords,
    inputs: r.inputs,
    first_msec: r.firstMsec ?? null,
    last_msec: r.lastMsec ?? null,
    step_tolerance: r.stepTolerance,
    elapsed_seconds: Math.round(r.elapsedSeconds * 1000) / 1000,
    suspected_upstreams: r.upstreams.filter((u) => u.signature.suspected).length,
    upstreams: r.upstreams.map(jsonUpstream),
    groups: r.groups.map(jsonGroup),
    malformed_examples: r.malformedExamples.map((e) => ({ input: e.origin, line: e.lineNumber, message: e.message })),
  };
}

export function renderJsonReport(r: AnalysisResult): string {
  return JSON.stringify(toJsonReport(r), null, 2) + '\n';
}

function jsonUpstream(u: UpstreamAnalysis): JsonUpstream {
  return { address: u.address, kind: u.kind, ...common(u.attempts, u.requests, u.signature, u.verdict) };
}

function jsonGroup(g: GroupAnalysis): JsonGroup {
  return { name: g.name ?? null, members: g.members, ...common(g.attempts, g.requests, g.signature, g.verdict) };
}

function common(a: AttemptStats, q: RequestStats, sig: SynSignature, verdict: string): Omit<JsonUpstream, 'address' | 'kind'> {
  const steps: Record<string, number> = {};
  for (const s of sig.steps) steps[String(s.step)] = s.count;
  return {
    requests: q.requests,
    attempts: a.attempts,
    retries: a.retries,
    failed_over: a.failedOver,
    failed_connects: { refused: a.connectRefused, timed_out: a.connectTimedOut, other: a.connectOther, no_live_upstreams: a.noLiveUpstream },
    statuses: Object.fromEntries([...a.statuses].sort()),
    connect: summary(a.connect),
    header: summary(a.header),
    response: summary(a.response),
    request: { ...summary(q.requestTime), p99_without_stalled: sig.requestP99WithoutStalled ?? null },
    steps,
    syn_retransmit_suspected: sig.suspectedConnects,
    suspected: sig.suspected,
    signature: {
      median_connect: sig.medianConnect ?? null,
      primary_step: sig.primary?.step ?? null,
      schedule: sig.schedule ?? null,
      reason: sig.reason ?? null,
      stalled_requests: sig.stalledRequests,
      request_p99: sig.requestP99 ?? null,
      request_p99_without_stalled: sig.requestP99WithoutStalled ?? null,
      p99_share: sig.p99Share ?? null,
      clusters: sig.steps.map((s) => ({ step: s.step, count: s.count, below: s.below, stands_out: s.standsOut, significant: s.significant })),
    },
    verdict,
  };
}

function summary(h: MsHistogram): TimeSummary {
  const [p50, p90, p99, p999] = h.quantiles([0.5, 0.9, 0.99, 0.999]);
  return { count: h.count, p50: p50 ?? null, p90: p90 ?? null, p99: p99 ?? null, p999: p999 ?? null, max: h.max ?? null };
}
