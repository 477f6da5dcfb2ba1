/**
 * Recognises TCP connects that waited for SYN retransmissions. When a SYN is dropped the
 * kernel resends it after its retransmission timeout, so the connect lasts that long plus
 * one round trip. Elapsed times at which a SYN is resent, in seconds:
 *  - classic exponential backoff (initial RTO 1 s): 1, 3, 7, 15, 31, 63;
 *  - Linux ≥ 6.5 with net.ipv4.tcp_syn_linear_timeouts = 4 (the default): timeouts of
 *    1, 1, 1, 1, 1 s (four linear, then the first exponential one at 2^0), then 2, 4, 8, 16 s,
 *    so resends at 1, 2, 3, 4, 5, 7, 11, 19, 35 s (measured here on Linux 6.18 with every SYN
 *    dropped: 1.08, 2.09, 3.09, 4.13, 5.15, 7.18, 11.20, 19.39, 35.51 s).
 */
export const CLASSIC_STEPS: readonly number[] = [1, 3, 7, 15, 31, 63];
export const LINEAR_STEPS: readonly number[] = [1, 2, 3, 4, 5, 7, 11, 19, 35];
export const SYN_RETRANSMIT_STEPS: readonly number[] = [...new Set([...CLASSIC_STEPS, ...LINEAR_STEPS])].sort((a, b) => a - b);

/** How far above a step a connect may land and still count as waiting for it: one round trip. */
export const DEFAULT_STEP_TOLERANCE = 0.2;
/** Below a step, a connect still counts if it is this close: nginx rounds to milliseconds. */
export const BELOW_STEP = 0.005;

/**
 * Allowance for late timers, as a share of the time beyond the first step: each
 * retransmission timer fires a little late, so later steps land further above their
 * nominal time (measured with real nginx on Linux 6.18: +10–35 ms at 1 s, +40–70 ms at 2 s
 * and 3 s, +180–300 ms at 7 s, +0.5 s at 35 s). 5 % of (step − 1 s) covers that and keeps
 * the windows of neighbouring steps (1 s apart) from overlapping.
 */
export const STEP_DRIFT = 0.05;

/** How far above `step` a connect may land and still count as waiting for it. */
export function stepWindow(step: number, tolerance: number): number {
  return tolerance + STEP_DRIFT * (step - 1);
}

/** The retransmission step (in seconds) a connect time sits just above, or undefined. */
export function synRetransmitStep(connectTime: number, tolerance = DEFAULT_STEP_TOLERANCE): number | undefined {
  if (connectTime < 1 - BELOW_STEP) return undefined;
  for (const step of SYN_RETRANSMIT_STEPS) {
    if (connectTime < step - BELOW_STEP) return undefined;
    if (connectTime < step + stepWindow(step, tolerance)) return step;
  }
  return undefined;
}
