/**
 * What the e2e tests expect, computed from nginx's own access log lines (the shipped
 * `otel_json` format) without the sidecar's code: each request's trace id and caller span
 * (from the logged headers), its upstream attempts and connect times, and whether a connect
 * sits in a SYN retransmission window (the steps and windows documented in the README).
 */

export interface LoggedAttempt {
  address: string;
  status: string;
  /** Seconds; undefined when nginx logged `-` (the connect never completed). */
  connect: number | undefined;
  response: number | undefined;
}

export interface LoggedRequest {
  requestId: string;
  uri: string;
  status: number;
  traceId: string;
  /** The caller's span id (traceparent's parent, or the X-Ray Parent); '' when none. */
  callerSpanId: string;
  header: 'traceparent' | 'xray-root' | 'xray-parent' | 'none';
  /** The traceparent's flags ('01' sampled, '00' not), '' without a traceparent. */
  traceFlags: string;
  attempts: LoggedAttempt[];
  /** The retransmission step a connect sits just above, per attempt (undefined: none). */
  steps: Array<number | undefined>;
}

/** Resend times of a SYN (README "Span model"): classic 1, 3, 7, 15, 31, 63 s; linear 1, 2, 3, 4, 5, 7, 11, 19, 35 s. */
const STEPS = [1, 2, 3, 4, 5, 7, 11, 15, 19, 31, 35, 63];

/** The step `connect` sits in: from 5 ms below it to 0.2 s + 5 % of (step − 1 s) above it. */
export function retransmitStep(connect: number | undefined): number | undefined {
  if (connect === undefined) return undefined;
  return STEPS.find((step) => connect >= step - 0.005 && connect < step + 0.2 + 0.05 * (step - 1));
}

function seconds(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === '-') return undefined;
  return Number(value);
}

export function parseLogLine(line: string): LoggedRequest {
  const r = JSON.parse(line) as Record<string, string>;
  const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(r.http_traceparent ?? '');
  const xrayRoot = /Root=1-([0-9a-f]{8})-([0-9a-f]{24})/.exec(r.http_x_amzn_trace_id ?? '');
  const xrayParent = /Parent=([0-9a-f]{16})/.exec(r.http_x_amzn_trace_id ?? '');
  let traceId = r.request_id;
  let callerSpanId = '';
  let header: LoggedRequest['header'] = 'none';
  if (tp !== null) {
    traceId = tp[1];
    callerSpanId = tp[2];
    header = 'traceparent';
  } else if (xrayRoot !== null) {
    traceId = xrayRoot[1] + xrayRoot[2];
    callerSpanId = xrayParent?.[1] ?? '';
    header = xrayParent !== null ? 'xray-parent' : 'xray-root';
  }
  const list = (v: string | undefined): string[] => (v === undefined || v === '' ? [] : v.split(', '));
  const addresses = list(r.upstream_addr);
  const statuses = list(r.upstream_status);
  const connects = list(r.upstream_connect_time);
  const responses = list(r.upstream_response_time);
  const attempts = addresses.map((address, i) => ({
    address,
    status: statuses[i] ?? '',
    connect: seconds(connects[i]),
    response: seconds(responses[i]),
  }));
  return {
    requestId: r.request_id,
    uri: r.request_uri,
    status: Number(r.status),
    traceId,
    callerSpanId,
    header,
    traceFlags: tp?.[3] ?? '',
    attempts,
    steps: attempts.map((a) => retransmitStep(a.connect)),
  };
}

/** Whether any of the request's connects waited for a SYN retransmission. */
export function flagged(r: LoggedRequest): boolean {
  return r.steps.some((s) => s !== undefined);
}
