import type { AccessRecord } from '../parse/access-record.js';
import { synRetransmitStep } from './syn-retransmit.js';
import type { CallerContext } from './trace-context.js';

export interface SamplingOptions {
  /** Share of ordinary requests kept, chosen by trace id (1: all). */
  ratio: number;
  /** Requests with a connect at least this slow (seconds) are always kept. */
  slowConnect: number;
  /** Follow an incoming traceparent's sampled flag for ordinary requests (default true). */
  honourParent: boolean;
  stepTolerance: number;
}

export type SamplingDecision = 'cause' | 'parent' | 'ratio' | 'out';

/**
 * Decides after the fact, with the whole request in hand, which an in-process nginx module
 * cannot: a request with a suspected SYN retransmit, a slow or failed connect, an error or a
 * retry is always kept. Other requests follow the caller's sampled flag when they came with
 * a traceparent, else are kept at `ratio`, chosen by trace id so every part of a trace
 * (nginx, upstream, other sidecars) makes the same choice.
 */
export class TailSampler {
  constructor(private readonly options: SamplingOptions) {}

  decide(record: AccessRecord, caller: CallerContext): SamplingDecision {
    if (this.mustKeep(record)) return 'cause';
    if (this.options.honourParent && caller.source === 'traceparent') return (caller.traceFlags & 1) === 1 ? 'parent' : 'out';
    return traceIdBelow(caller.traceId, this.options.ratio) ? 'ratio' : 'out';
  }

  private mustKeep(record: AccessRecord): boolean {
    if ((record.status ?? 0) >= 500) return true;
    const attempts = record.upstreams;
    for (let i = 0; i < attempts.length; i++) {
      const a = attempts[i];
      if (i > 0 && a.group === attempts[i - 1].group) return true; // a retry
      if (a.connectTime === undefined) return true; // never connected
      if (a.connectTime >= this.options.slowConnect) return true;
      if (synRetransmitStep(a.connectTime, this.options.stepTolerance) !== undefined) return true;
      if ((a.status ?? 0) >= 500) return true;
    }
    return false;
  }
}

/** The trace id's low 52 bits as a fraction of 2^52 (W3C ids are random there) below `ratio`. */
function traceIdBelow(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(-13), 16) / 2 ** 52 < ratio;
}
