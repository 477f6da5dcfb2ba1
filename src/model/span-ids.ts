import { createHash } from 'node:crypto';

/**
 * Span ids derived from `$request_id`, so replaying a line yields byte-identical spans
 * and nginx can name the first attempt's span id before the sidecar sees the line:
 * the SERVER span takes the first 16 hex digits, the first upstream attempt the last 16
 * (what nginx/otel-trace-context.conf sends upstream as the parent span id); every other
 * span takes a hash of the request id and its role.
 */
const ZERO_SPAN = '0000000000000000';

export function serverSpanId(requestId: string): string {
  return nonZero(requestId.slice(0, 16), requestId, 'server');
}

export function attemptSpanId(requestId: string, attempt: number): string {
  return attempt === 0 ? nonZero(requestId.slice(16, 32), requestId, 'attempt/0') : derived(requestId, `attempt/${attempt}`);
}

export function connectSpanId(requestId: string, attempt: number): string {
  return derived(requestId, `connect/${attempt}`);
}

function nonZero(id: string, requestId: string, role: string): string {
  return id === ZERO_SPAN ? derived(requestId, role) : id;
}

function derived(requestId: string, role: string): string {
  const id = createHash('sha256').update(requestId).update('/').update(role).digest('hex').slice(0, 16);
  return id === ZERO_SPAN ? '0000000000000001' : id;
}
