/**
 * A screenshot-free text rendering of one trace from Jaeger: an indented span tree with each
 * span's service, name, kind, duration, a timeline bar over the whole trace, and the span id
 * and key attributes underneath.
 *
 *   node scripts/render-trace.ts [--jaeger http://127.0.0.1:16686] [--width 32] <32-hex trace id>
 *
 * The trace is fetched with Jaeger's api_v3 (`GET /api/v3/traces/{id}`, OTLP JSON), which
 * every Jaeger v2 serves. (For searches by attribute use the UI API `/api/traces?tags=…`:
 * Jaeger v2.13's HTTP /api/v3/traces ignores `query.attributes`.) No dependencies: Node ≥ 22.
 */

export type SpanKindName = 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type AttributeValue = string | number | boolean | null | AttributeValue[];

/** One span, flattened from OTLP JSON (or from Jaeger's UI API). */
export interface TraceSpan {
  traceId: string;
  spanId: string;
  /** '' when the span has no parent. */
  parentSpanId: string;
  name: string;
  kind: SpanKindName;
  service: string;
  startNs: bigint;
  endNs: bigint;
  /** endNs − startNs in seconds. */
  duration: number;
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
}

const KINDS: SpanKindName[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: unknown;
  bytesValue?: string;
}
interface OtlpKeyValue { key: string; value?: OtlpAnyValue }
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpKeyValue[];
  status?: { code?: number | string; message?: string };
}
export interface OtlpTracesJson {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

function anyValue(v: OtlpAnyValue | undefined): AttributeValue {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

function attributeMap(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) {
    if (kv.key.startsWith('@jaeger@')) continue; // Jaeger's own annotations (e.g. clock-skew warnings)
    out[kv.key] = anyValue(kv.value);
  }
  return out;
}

function kindName(kind: number | string | undefined): SpanKindName {
  if (typeof kind === 'number') return KINDS[kind] ?? 'UNSPECIFIED';
  if (typeof kind === 'string') {
    const k = kind.replace(/^SPAN_KIND_/, '').toUpperCase();
    return (KINDS as string[]).includes(k) ? (k as SpanKindName) : 'UNSPECIFIED';
  }
  return 'UNSPECIFIED';
}

function statusCode(code: number | string | undefined): number {
  if (typeof code === 'number') return code;
  if (code === 'STATUS_CODE_OK') return 1;
  if (code === 'STATUS_CODE_ERROR') return 2;
  return 0;
}

/** Flattens OTLP JSON (what /api/v3/traces/{id} returns under `result`) into spans. */
export function spansFromOtlpJson(traces: OtlpTracesJson): TraceSpan[] {
  const spans: TraceSpan[] = [];
  for (const rs of traces.resourceSpans ?? []) {
    const resource = attributeMap(rs.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const startNs = BigInt(s.startTimeUnixNano);
        const endNs = BigInt(s.endTimeUnixNano);
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: kindName(s.kind),
          service,
          startNs,
          endNs,
          duration: Number(endNs - startNs) / 1e9,
          attributes: attributeMap(s.attributes),
          resource,
          statusCode: statusCode(s.status?.code),
          statusMessage: s.status?.message ?? '',
        });
      }
    }
  }
  return spans;
}

/** GET /api/v3/traces/{id}; undefined when Jaeger does not have it (yet). */
export async function fetchTrace(jaegerUrl: string, traceId: string): Promise<TraceSpan[] | undefined> {
  const res = await fetch(`${jaegerUrl.replace(/\/$/, '')}/api/v3/traces/${traceId}`);
  const text = await res.text();
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET /api/v3/traces/${traceId}: HTTP ${res.status} ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { result?: OtlpTracesJson };
  const spans = spansFromOtlpJson(body.result ?? {});
  return spans.length === 0 ? undefined : spans;
}

// ---------------------------------------------------------------- rendering

/** Attributes worth a glance, in this order (others are left out). */
const KEY_ATTRIBUTES: Array<[string, string]> = [
  ['url.path', 'path'],
  ['http.response.status_code', 'status'],
  ['server.address', 'server'],
  ['server.port', 'port'],
  ['http.request.resend_count', 'resend'],
  ['nginx.upstream.connect_time', 'connect_time'],
  ['nginx.upstream.header_time', 'header_time'],
  ['nginx.upstream.response_time', 'response_time'],
  ['nginx.upstream.connect.syn_retransmit_suspected', 'syn_retransmit_suspected'],
  ['nginx.upstream.connect.syn_retransmit_step', 'syn_retransmit_step'],
  ['error.type', 'error.type'],
  ['nginx.request_id', 'request_id'],
];

export interface RenderOptions {
  /** Timeline bar width in characters (default 32). */
  width?: number;
}

function formatSeconds(s: number): string {
  return `${s.toFixed(3)} s`;
}

function bar(span: TraceSpan, t0: bigint, total: number, width: number): string {
  if (total <= 0) return `|${'█'.repeat(width)}|`;
  const from = (Number(span.startNs - t0) / 1e9 / total) * width;
  const to = (Number(span.endNs - t0) / 1e9 / total) * width;
  const cells: string[] = [];
  for (let i = 0; i < width; i++) {
    const covered = Math.min(to, i + 1) - Math.max(from, i);
    cells.push(covered >= 0.5 ? '█' : covered > 0 ? '▌' : ' ');
  }
  // A span too short to fill half a cell still gets a mark where it starts.
  if (!cells.some((c) => c !== ' ')) cells[Math.min(width - 1, Math.max(0, Math.floor(from)))] = '▏';
  return `|${cells.join('')}|`;
}

function attributeLine(span: TraceSpan, parent: TraceSpan | undefined): string {
  const parts = [`span ${span.spanId}`];
  // Where one service's span hangs under another's: the propagated context at work.
  if (parent !== undefined && parent.service !== span.service) parts.push(`parent ${parent.spanId} (${parent.service} ${parent.kind})`);
  for (const [key, label] of KEY_ATTRIBUTES) {
    const v = span.attributes[key];
    if (v === undefined || v === null) continue;
    parts.push(`${label}=${Array.isArray(v) ? JSON.stringify(v) : String(v)}`);
  }
  if (span.statusCode === 2) parts.push(`status=ERROR${span.statusMessage !== '' ? ` (${span.statusMessage})` : ''}`);
  if (span.attributes['nginx.upstream.connect.syn_retransmit_suspected'] === true) parts.push('⚠ waited for a SYN retransmission');
  return parts.join('  ');
}

/** The trace as an indented tree with timeline bars (plain text, one line per span plus its attributes). */
export function renderTrace(spans: TraceSpan[], options: RenderOptions = {}): string {
  if (spans.length === 0) return '(no spans)\n';
  const width = options.width ?? 32;
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, TraceSpan[]>();
  const roots: TraceSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId !== '' && byId.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else {
      roots.push(s);
    }
  }
  const order = (a: TraceSpan, b: TraceSpan): number => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : a.spanId < b.spanId ? -1 : 1);
  roots.sort(order);
  for (const list of children.values()) list.sort(order);

  let t0 = spans[0].startNs;
  let t1 = spans[0].endNs;
  for (const s of spans) {
    if (s.startNs < t0) t0 = s.startNs;
    if (s.endNs > t1) t1 = s.endNs;
  }
  const total = Number(t1 - t0) / 1e9;

  // Rows first, so the label column can be padded to the widest label.
  interface Row { label: string; duration: string; bar: string; detail: string }
  const rows: Row[] = [];
  const services: string[] = [];
  const walk = (span: TraceSpan, lead: string, branch: string, childLead: string): void => {
    if (!services.includes(span.service)) services.push(span.service);
    rows.push({
      label: `${lead}${branch}${span.service}  ${span.name}  ${span.kind}`,
      duration: formatSeconds(span.duration),
      bar: bar(span, t0, total, width),
      detail: `${lead}${childLead}${(children.get(span.spanId) ?? []).length > 0 ? '│  ' : '   '}${attributeLine(span, byId.get(span.parentSpanId))}`,
    });
    const kids = children.get(span.spanId) ?? [];
    kids.forEach((kid, i) => {
      const last = i === kids.length - 1;
      walk(kid, lead + childLead, last ? '└─ ' : '├─ ', last ? '   ' : '│  ');
    });
  };
  for (const root of roots) walk(root, '', '', '');

  const heading = 'service  span  kind';
  const labelWidth = Math.max(heading.length, ...rows.map((r) => [...r.label].length));
  const lines: string[] = [];
  lines.push(`trace ${spans[0].traceId}: ${spans.length} spans, services ${services.join(', ')}, ${formatSeconds(total)}`);
  for (const root of roots) {
    if (root.parentSpanId !== '') lines.push(`root ${root.service} ${root.name} has parent span ${root.parentSpanId} (the caller's span, not in this trace)`);
  }
  lines.push('');
  const scale = `0 s${' '.repeat(Math.max(1, width - 3 - formatSeconds(total).length))}${formatSeconds(total)}`;
  lines.push(`${heading.padEnd(labelWidth)}  ${'duration'.padStart(9)}   ${scale}`);
  for (const r of rows) {
    lines.push(`${r.label}${' '.repeat(labelWidth - [...r.label].length)}  ${r.duration.padStart(9)}  ${r.bar}`);
    lines.push(r.detail.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- command line

async function main(argv: string[]): Promise<void> {
  let jaeger = process.env.JAEGER_QUERY_URL ?? 'http://127.0.0.1:16686';
  let width = 32;
  let traceId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--jaeger') jaeger = argv[++i];
    else if (argv[i] === '--width') width = Number(argv[++i]);
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: node scripts/render-trace.ts [--jaeger http://127.0.0.1:16686] [--width 32] <32-hex trace id>\n');
      return;
    } else traceId = argv[i];
  }
  if (traceId === undefined || !/^[0-9a-f]{32}$/.test(traceId)) throw new Error('give a 32-hex trace id');
  const spans = await fetchTrace(jaeger, traceId);
  if (spans === undefined) throw new Error(`Jaeger at ${jaeger} has no trace ${traceId}`);
  process.stdout.write(renderTrace(spans, { width }));
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`render-trace: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
