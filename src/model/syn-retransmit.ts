/**
 * Recognises TCP connects that waited for SYN retransmissions. When a SYN is dropped the
 * kernel resends it after its retransmission timeout, so the connect lasts that long plus
 * one round trip. Elapsed times at which a SYN is resent, in seconds:
 *  - classic exponential backoff (initial RTO 1 s): 1, 3, 7, 15, 31, 63;
 *  - Linux ≥ 6.5 with net.ipv4.tcp_syn_linear_timeouts = 4 (the default): 1, 2, 3, 4,
 *    then doubling again: 6, 10, 18, 34.
 */
export const CLASSIC_STEPS: readonly number[] = [1, 3, 7, 15, 31, 63];
export const LINEAR_STEPS: readonly number[] = [1, 2, 3, 4, 6, 10, 18, 34];
export const SYN_RETRANSMIT_STEPS: readonly number[] = [...new Set([...CLASSIC_STEPS, ...LINEAR_STEPS])].sort((a, b) => a - b);

/** How far above a step a connect may land and still count as waiting for it: one round trip. */
export const DEFAULT_STEP_TOLERANCE = 0.2;
/** nginx rounds to milliseconds, and timers may fire a hair early. */
const BELOW_STEP = 0.005;

/** The retransmission step (in seconds) a connect time sits just above, or undefined. */
export function synRetransmitStep(connectTime: number, tolerance = DEFAULT_STEP_TOLERANCE): number | undefined {
  if (connectTime < 1 - BELOW_STEP) return undefined;
  for (const step of SYN_RETRANSMIT_STEPS) {
    if (connectTime < step - BELOW_STEP) return undefined;
    if (connectTime < step + tolerance) return step;
  }
  return undefined;
}
