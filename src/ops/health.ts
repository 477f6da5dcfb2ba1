/**
 * What /healthz and /readyz answer.
 *
 * /healthz (liveness: restart me if this stays red): 503 until every input is open (a
 * file opened, a socket bound), 503 while stopping, and 503 once exports have failed
 * without a single success for longer than `unhealthyAfterMs` (the collector is away or
 * refuses us; reading has paused and the files are the buffer). 200 `ok` otherwise.
 *
 * /readyz (is it doing its job right now): as /healthz, but red as soon as the latest
 * export failed, with no tolerance.
 */
export interface HealthInput {
  /** For the reason text: `file /var/log/nginx/access.log`, `syslog 127.0.0.1:5140`. */
  name: string;
  isOpen(): boolean;
}

export interface HealthFacts {
  inputs: readonly HealthInput[];
  /** ms since epoch when the current run of failed exports began; 0 while exports succeed. */
  failingSince: number;
  now: number;
  unhealthyAfterMs: number;
  stopping: boolean;
}

export interface HealthVerdict {
  ok: boolean;
  /** `ok`, or why not (one line). */
  reason: string;
}

export function checkHealth(facts: HealthFacts): HealthVerdict {
  const common = commonProblem(facts);
  if (common !== undefined) return { ok: false, reason: common };
  const failingMs = failingFor(facts);
  if (failingMs > facts.unhealthyAfterMs) {
    return {
      ok: false,
      reason: `export has failed continuously for ${Math.round(failingMs / 1000)} s (since ${new Date(facts.failingSince).toISOString()}; --unhealthy-after ${facts.unhealthyAfterMs / 1000} s)`,
    };
  }
  return { ok: true, reason: 'ok' };
}

export function checkReady(facts: HealthFacts): HealthVerdict {
  const common = commonProblem(facts);
  if (common !== undefined) return { ok: false, reason: common };
  if (facts.failingSince !== 0) {
    return { ok: false, reason: `export failing for ${Math.round(failingFor(facts) / 1000)} s (since ${new Date(facts.failingSince).toISOString()})` };
  }
  return { ok: true, reason: 'ok' };
}

/** How long exports have been failing, in ms (0 while they succeed). */
export function failingFor(facts: Pick<HealthFacts, 'failingSince' | 'now'>): number {
  return facts.failingSince === 0 ? 0 : Math.max(0, facts.now - facts.failingSince);
}

function commonProblem(facts: HealthFacts): string | undefined {
  if (facts.stopping) return 'stopping';
  const waiting = facts.inputs.filter((i) => !i.isOpen()).map((i) => i.name);
  if (waiting.length > 0) return `starting: waiting for ${waiting.join(', ')}`;
  return undefined;
}
