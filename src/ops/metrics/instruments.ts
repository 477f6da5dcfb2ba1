import { DEFAULT_STEP_TOLERANCE, SYN_RETRANSMIT_STEPS, stepWindow } from '../../model/syn-retransmit.js';

/**
 * What the sidecar measures: the name, unit, kind and buckets of each instrument. Every
 * other part of src/ops/metrics refers to instruments by these names.
 */

export type InstrumentKind = 'histogram' | 'counter';

export interface InstrumentDefinition {
  name: string;
  kind: InstrumentKind;
  unit: string;
  description: string;
  /** Histograms: inclusive upper bounds, ascending (OTLP explicit buckets: (b[i-1], b[i]]). */
  boundaries?: readonly number[];
}

/** Semantic-conventions advice for http.server/client.request.duration. */
export const HTTP_DURATION_BOUNDARIES: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Sub-second connect times of a LAN (nginx logs milliseconds: 0.001 holds "0.000" and "0.001"). */
const FAST_CONNECT_BOUNDARIES = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5];

/**
 * Connect-time buckets (seconds): the LAN range, then for each SYN retransmission step s
 * (classic 1, 3, 7, 15, 31, 63 s; Linux ≥ 6.5 linear 1, 2, 3, 4, 5, 7, 11, 19, 35 s) a narrow
 * bucket (s − 0.01, s + window(s)] holding the connects syn-retransmit.ts flags for that step
 * with the default --step-tolerance (s − 0.005 ≤ t < s + 0.2 s + 5 % of (s − 1 s)), with a
 * wide bucket between steps. A dashboard then shows each step as a spike of its own
 * (0.99–1.2 s, 1.99–2.25 s, 2.99–3.3 s…) instead of smearing 1 s and 2 s into one "1–2.5 s"
 * bucket. Derived from the model's steps so they stay in line with the flag. The buckets are
 * 5 ms wider below a step and fixed while --step-tolerance is configurable: the
 * syn_retransmit_suspected counter, not these buckets, is the exact count of flagged connects.
 */
export const CONNECT_DURATION_BOUNDARIES: readonly number[] = [
  ...FAST_CONNECT_BOUNDARIES,
  ...SYN_RETRANSMIT_STEPS.flatMap((step) => [ms(step - 0.01), ms(step + stepWindow(step, DEFAULT_STEP_TOLERANCE))]),
];

function ms(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

export const REQUEST_DURATION = 'http.server.request.duration';
export const UPSTREAM_RESPONSE_DURATION = 'nginx.upstream.response.duration';
export const CONNECT_DURATION = 'nginx.upstream.connect.duration';
export const SYN_RETRANSMIT_SUSPECTED = 'nginx.upstream.connect.syn_retransmit_suspected';
export const UPSTREAM_ATTEMPTS = 'nginx.upstream.attempts';
export const UPSTREAM_RETRIES = 'nginx.upstream.retries';

/** In export order. */
export const INSTRUMENTS: readonly InstrumentDefinition[] = [
  {
    name: REQUEST_DURATION,
    kind: 'histogram',
    unit: 's',
    description: 'Duration of HTTP server requests: nginx $request_time, first byte read from the client to the log write.',
    boundaries: HTTP_DURATION_BOUNDARIES,
  },
  {
    name: UPSTREAM_RESPONSE_DURATION,
    kind: 'histogram',
    unit: 's',
    description: 'Duration of each upstream attempt: nginx $upstream_response_time, connect to the last byte of the response.',
    boundaries: HTTP_DURATION_BOUNDARIES,
  },
  {
    name: CONNECT_DURATION,
    kind: 'histogram',
    unit: 's',
    description: 'TCP connect time of each upstream attempt that connected: nginx $upstream_connect_time. One narrow bucket per SYN retransmission step.',
    boundaries: CONNECT_DURATION_BOUNDARIES,
  },
  {
    name: SYN_RETRANSMIT_SUSPECTED,
    kind: 'counter',
    unit: '{connect}',
    description: 'Upstream connects that lasted just over a SYN retransmission step (the step is an attribute): a SYN was probably dropped.',
  },
  {
    name: UPSTREAM_ATTEMPTS,
    kind: 'counter',
    unit: '{attempt}',
    description: 'Upstream attempts (tries of one upstream server) nginx made.',
  },
  {
    name: UPSTREAM_RETRIES,
    kind: 'counter',
    unit: '{attempt}',
    description: 'Upstream attempts that failed and made nginx try the next server (proxy_next_upstream), counted against the server that failed.',
  },
];

export function instrument(name: string): InstrumentDefinition {
  const found = INSTRUMENTS.find((i) => i.name === name);
  if (found === undefined) throw new Error(`unknown instrument ${name}`);
  return found;
}
