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

/**
 * 64 bits from two FNV-1a lanes over "<request id>/<role>". Not cryptographic, and need not
 * be: ids only have to be stable and distinct within one trace. A sha256 per span cost more
 * than building the span.
 */
function derived(requestId: string, role: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  const text = `${requestId}/${role}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15);
  }
  const id = hex32(a) + hex32(b);
  return id === ZERO_SPAN ? '0000000000000001' : id;
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
