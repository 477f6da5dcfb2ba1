/**
 * One-sentence verdicts on an upstream's SYN-retransmit signature, for people: what was
 * seen, how much of the tail it explains, and what usually causes it — or, when nothing
 * was flagged, a clear "no signature found" with the reason.
 */
import { formatCount, formatPercent, formatSeconds, formatStep } from './format.js';
import type { AttemptStats } from './upstream-stats.js';
import type { SynSignature } from './syn-signature.js';

export const NO_SIGNATURE = 'no signature found';

const CAUSES = 'Typical of dropped SYNs: conntrack/SNAT races, full accept queues, lossy paths.';

/** The verdict for an upstream labelled `label` (an address, or a group's description). */
export function verdict(label: string, sig: SynSignature, attempts: AttemptStats): string {
  return sig.suspected ? suspectedVerdict(label, sig) : `${label}: ${NO_SIGNATURE}${notSuspectedReason(sig, attempts)}.`;
}

function suspectedVerdict(label: string, sig: SynSignature): string {
  const primary = sig.primary!;
  const standing = sig.steps.filter((s) => s.standsOut);
  const N = sig.connects;
  const what = primary.step === 1
    ? 'stalled for exactly one SYN retransmission (≈1 s)'
    : `stalled for SYN retransmissions (${formatStep(primary.step)})`;
  const clauses = [`${formatCount(primary.count)} of ${formatCount(N)} connects (${formatPercent(primary.count / N)}) ${what}`];
  const others = standing.filter((s) => s !== primary);
  if (others.length > 0) {
    const more = others.reduce((sum, s) => sum + s.count, 0);
    const list = others.map((s) => `${formatStep(s.step)} ×${formatCount(s.count)}`).join(', ');
    clauses.push(`${formatCount(more)} more for ${primary.step === 1 ? 'several in a row' : 'other steps'} (${list})`);
  }
  if (sig.connectTimeouts > 0) {
    clauses.push(`${formatCount(sig.connectTimeouts)} more timed out (proxy_connect_timeout) waiting for retransmissions`);
  }
  const joined = clauses.length === 1 ? clauses[0] : `${clauses.slice(0, -1).join(', ')} and ${clauses[clauses.length - 1]}`;
  let text = `${label}: ${joined}, while a normal connect takes ${formatSeconds(sig.medianConnect)}`;
  text += `; ${impact(sig)}. ${CAUSES}`;
  return text;
}

function impact(sig: SynSignature): string {
  const share = sig.p99Share ?? 0;
  const p99 = formatSeconds(sig.requestP99);
  const without = formatSeconds(sig.requestP99WithoutStalled);
  if (share >= 0.95) return `they make up the whole request-time p99 (${p99}; ${without} without them)`;
  if (share >= 0.2) return `they make up ${formatPercent(share)} of the requests at or above the request-time p99 (${p99}; ${without} without them)`;
  if (share === 0) return `the request-time p99 (${p99}) has other causes: none of the requests at or above it contain such a connect`;
  return `the request-time p99 (${p99}) has mostly other causes: only ${formatPercent(share)} of the requests at or above it contain such a connect`;
}

function notSuspectedReason(sig: SynSignature, attempts: AttemptStats): string {
  const p = sig.primary;
  switch (sig.reason) {
    case 'no-connects': {
      if (attempts.noLiveUpstream > 0) {
        return ` (this is an upstream block's name, which nginx logs when it finds no live server: ${formatCount(attempts.noLiveUpstream)} times)`;
      }
      const failed = attempts.connectRefused + attempts.connectTimedOut + attempts.connectOther;
      return failed > 0
        ? ` (no connect succeeded: ${formatCount(attempts.connectRefused)} refused, ${formatCount(attempts.connectTimedOut)} timed out)`
        : ' (no connect times logged)';
    }
    case 'no-step-connects':
      return `: none of ${formatCount(sig.connects)} connects landed just above a SYN-retransmission step (median ${formatSeconds(sig.medianConnect)}, max ${formatSeconds(attemptsMax(attempts))})`;
    case 'normal-is-slow': {
      const medianAtStep = p !== undefined && sig.medianConnect !== undefined && sig.medianConnect >= p.step - 0.005 && sig.medianConnect < p.step + 0.5;
      return `: the ${formatCount(p!.count)} connects at ${formatStep(p!.step)} are this upstream's normal connect time (median ${formatSeconds(sig.medianConnect)}), not stalls` +
        (medianAtStep ? ` (though a constant extra ${p!.step} s can also mean that every first SYN is dropped)` : '');
    }
    case 'not-standing-out':
      return `: the ${formatCount(p!.count)} connects at ${formatStep(p!.step)} do not stand out from a broad slow tail (${formatCount(p!.below)} just below the step)`;
    case 'too-few':
      return `: only ${formatCount(p!.count)} of ${formatCount(sig.connects)} connects at ${formatStep(p!.step)}, too few to tell`;
    default:
      return '';
  }
}

function attemptsMax(attempts: AttemptStats): number | undefined {
  return attempts.connect.max;
}
