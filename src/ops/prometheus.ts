/**
 * The Prometheus text exposition format (version 0.0.4), rendered by hand: the sidecar
 * exposes a few dozen numbers it already keeps as plain counters, so a client library
 * (registries, collectors, its own timers) would add a dependency and nothing else.
 *
 *   # HELP nginx_otel_sidecar_lines_read_total Lines read from the inputs.
 *   # TYPE nginx_otel_sidecar_lines_read_total counter
 *   nginx_otel_sidecar_lines_read_total 1234
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** Appended to the family name (`_bucket`, `_sum`, `_count`); default none. */
  suffix?: string;
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  /** Full name; counters end in `_total`. */
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The exposition text of `families`, in the order given. Throws on an invalid name. */
export function renderPrometheus(families: MetricFamily[]): string {
  let out = '';
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`);
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      out += `${f.name}${s.suffix ?? ''}${renderLabels(s.labels)} ${formatValue(s.value)}\n`;
    }
  }
  return out;
}

/** A one-sample counter family. */
export function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'counter', samples: [{ value }] };
}

/** A one-sample gauge family. */
export function gauge(name: string, help: string, value: number, labels?: Record<string, string>): MetricFamily {
  return { name, help, type: 'gauge', samples: [{ value, labels }] };
}

function renderLabels(labels: Record<string, string> | undefined): string {
  if (labels === undefined) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL.test(key) || key.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(key)}`);
    parts.push(`${key}="${escapeLabelValue(value)}"`);
  }
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
