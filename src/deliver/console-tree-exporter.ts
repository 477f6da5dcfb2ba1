import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMicroseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

const BAR_WIDTH = 30;

/**
 * `--exporter console`: prints each request as an indented tree with durations and a
 * timeline bar, so a slow connect phase stands out at a glance:
 *
 *   GET /api 200  1.013 s  trace 0af7…319c (traceparent)
 *   └─ GET 127.0.0.1:8082 → 200  1.012 s   [██████████████████████████████]
 *      └─ connect  1.004 s  ⚠ SYN retransmit suspected (1 s step)  [█████████████████████████████ ]
 */
export class ConsoleTreeExporter implements SpanExporter {
  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const children = new Map<string, ReadableSpan[]>();
    const ids = new Set<string>();
    for (const span of spans) ids.add(span.spanContext().spanId);
    const roots: ReadableSpan[] = [];
    for (const span of spans) {
      const parent = span.parentSpanContext?.spanId;
      if (parent !== undefined && ids.has(parent)) {
        const list = children.get(parent);
        if (list === undefined) children.set(parent, [span]);
        else list.push(span);
      } else {
        roots.push(span);
      }
    }
    let out = '';
    for (const root of roots) {
      const start = hrTimeToMicroseconds(root.startTime);
      const length = Math.max(1, hrTimeToMicroseconds(root.endTime) - start);
      out += `${describe(root)}  trace ${root.spanContext().traceId}${parentNote(root)}\n`;
      out += renderChildren(root, children, '', start, length);
    }
    this.write(out);
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

function renderChildren(span: ReadableSpan, children: Map<string, ReadableSpan[]>, indent: string, rootStart: number, rootLength: number): string {
  const list = children.get(span.spanContext().spanId);
  if (list === undefined) return '';
  let out = '';
  list.forEach((child, i) => {
    const last = i === list.length - 1;
    out += `${indent}${last ? '└─ ' : '├─ '}${describe(child)}  ${bar(child, rootStart, rootLength)}\n`;
    out += renderChildren(child, children, indent + (last ? '   ' : '│  '), rootStart, rootLength);
  });
  return out;
}

function describe(span: ReadableSpan): string {
  const a = span.attributes;
  const seconds = `${(hrTimeToMicroseconds(span.duration) / 1e6).toFixed(3)} s`;
  const failed = span.status.code === SpanStatusCode.ERROR ? `  ✗ ${span.status.message ?? 'error'}` : '';
  if (span.kind === SpanKind.SERVER) {
    return `${span.name} ${a['url.path'] ?? ''} ${a['http.response.status_code'] ?? '-'}  ${seconds}${failed}`;
  }
  if (span.kind === SpanKind.CLIENT) {
    const peer = a['server.port'] !== undefined ? `${a['server.address']}:${a['server.port']}` : `${a['server.address'] ?? '?'}`;
    const retry = (a['http.request.resend_count'] !== undefined ? ` (retry ${a['http.request.resend_count']})` : '') +
      (a['nginx.upstream.group'] !== undefined ? ` (after internal redirect ${a['nginx.upstream.group']})` : '');
    return `${span.name} ${peer} → ${a['http.response.status_code'] ?? '-'}${retry}  ${seconds}${failed}`;
  }
  const suspected = a['nginx.upstream.connect.syn_retransmit_suspected'] === true
    ? `  ⚠ SYN retransmit suspected (${a['nginx.upstream.connect.syn_retransmit_step']} s step)`
    : '';
  return `${span.name}  ${seconds}${suspected}${failed}`;
}

function parentNote(span: ReadableSpan): string {
  const parent = span.parentSpanContext;
  return parent === undefined ? ' (new trace)' : ` (parent ${parent.spanId})`;
}

function bar(span: ReadableSpan, rootStart: number, rootLength: number): string {
  const from = Math.round(((hrTimeToMicroseconds(span.startTime) - rootStart) / rootLength) * BAR_WIDTH);
  const to = Math.round(((hrTimeToMicroseconds(span.endTime) - rootStart) / rootLength) * BAR_WIDTH);
  const start = Math.max(0, Math.min(BAR_WIDTH, from));
  const end = Math.max(start, Math.min(BAR_WIDTH, to));
  const filled = end > start ? '█'.repeat(end - start) : '▏';
  return `[${' '.repeat(start)}${filled}${' '.repeat(Math.max(0, BAR_WIDTH - start - Math.max(1, end - start)))}]`;
}
