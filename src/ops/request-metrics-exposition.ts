import type { MetricAttributes } from './metrics/metrics-delta.js';
import type { MetricsSnapshot } from './metrics/metrics-store.js';
import type { MetricFamily, Sample } from './prometheus.js';

/**
 * The request metrics (connect, request and upstream response histograms, retransmit,
 * attempt and retry counters) as Prometheus families, named as the collector's Prometheus
 * exporter names the same OTLP metrics, so one dashboard serves either path:
 *
 *   nginx.upstream.connect.duration (s)        → nginx_upstream_connect_duration_seconds
 *   nginx.upstream.attempts ({attempt})        → nginx_upstream_attempts_total
 *   attribute server.address                   → label server_address
 *
 * Exemplars are left out: the 0.0.4 text format has no place for them (they go over OTLP).
 */
export function requestMetricFamilies(snapshot: MetricsSnapshot): MetricFamily[] {
  const families: MetricFamily[] = [];
  for (const h of snapshot.histograms) {
    const samples: Sample[] = [];
    for (const series of h.series) {
      const labels = toLabels(series.attributes);
      let cumulative = 0;
      h.boundaries.forEach((le, i) => {
        cumulative += series.counts[i];
        samples.push({ suffix: '_bucket', labels: { ...labels, le: String(le) }, value: cumulative });
      });
      samples.push(
        { suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: series.count },
        { suffix: '_sum', labels, value: series.sum },
        { suffix: '_count', labels, value: series.count },
      );
    }
    families.push({ name: promName(h.name, h.unit), help: h.description, type: 'histogram', samples });
  }
  for (const c of snapshot.counters) {
    families.push({
      name: `${promName(c.name, c.unit)}_total`,
      help: c.description,
      type: 'counter',
      samples: c.series.map((series) => ({ labels: toLabels(series.attributes), value: series.value })),
    });
  }
  return families;
}

/** OTel name and unit → Prometheus name: dots to underscores, `_seconds` for `s`; `{…}` units are annotations and dropped. */
function promName(name: string, unit: string): string {
  const base = sanitize(name);
  return unit === 's' && !base.endsWith('_seconds') ? `${base}_seconds` : base;
}

function toLabels(attributes: MetricAttributes): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) labels[sanitize(key)] = String(value);
  return labels;
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}
