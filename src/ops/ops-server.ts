import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InputCounters, LineInput } from '../input/line-chunk.js';
import { VERSION } from '../version.js';
import { checkHealth, checkReady, failingFor, type HealthFacts, type HealthVerdict } from './health.js';
import type { PipelineStats } from './pipeline-stats.js';
import type { MetricsSnapshot } from './metrics/metrics-store.js';
import { counter, gauge, PROMETHEUS_CONTENT_TYPE, renderPrometheus, type MetricFamily } from './prometheus.js';
import { requestMetricFamilies } from './request-metrics-exposition.js';

/**
 * The operations endpoint (`run --listen 127.0.0.1:9464`):
 *
 *   GET /metrics   Prometheus text exposition of the counters below, and of the request
 *                  metrics (connect-time histograms…) when they are recorded
 *   GET /healthz   200 `ok`, or 503 and the reason (see health.ts)
 *   GET /readyz    200 `ok`, or 503 and the reason
 *
 * Plain node:http, no keep-alive beyond a few seconds, closed with every connection on
 * shutdown so it never holds the process open.
 */
export interface OpsSources {
  /** The pipeline's counters (summed over workers). */
  stats(): PipelineStats;
  inputs: readonly LineInput[];
  checkpoint?: { readonly stats: { writes: number; writeErrors: number } };
  health(): HealthFacts;
  /** The request metrics (src/ops/metrics), when recorded. */
  requestMetrics?(): MetricsSnapshot | undefined;
}

export interface OpsServer {
  /** `http://host:port` */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export const METRIC_PREFIX = 'nginx_otel_sidecar_';

/** `127.0.0.1:9464`, `[::1]:9464`, `:9464` (all interfaces), `9464`; port 0 picks a free one. */
export function parseListenAddress(spec: string): { host: string; port: number } {
  const s = spec.trim();
  let m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s);
  if (m === null) m = /^([^:\s[\]]*):(\d+)$/.exec(s);
  if (m === null && /^\d+$/.test(s)) m = ['', '', s] as unknown as RegExpExecArray;
  if (m === null) throw new Error(`cannot read --listen ${JSON.stringify(spec)} (expected host:port, e.g. 127.0.0.1:9464)`);
  const port = Number(m[2]);
  if (!(port >= 0 && port < 65536)) throw new Error(`bad port in --listen ${spec}`);
  return { host: m[1] === '' ? '0.0.0.0' : m[1], port };
}

export async function startOpsServer(listen: string, sources: OpsSources): Promise<OpsServer> {
  const { host, port } = parseListenAddress(listen);
  const server = createServer((req, res) => handle(req, res, sources));
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    host: address.address,
    port: address.port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function handle(req: IncomingMessage, res: ServerResponse, sources: OpsSources): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  try {
    switch (path) {
      case '/metrics': {
        const body = renderPrometheus(sidecarMetrics(sources));
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case '/healthz':
        verdict(res, req, checkHealth(sources.health()));
        return;
      case '/readyz':
        verdict(res, req, checkReady(sources.health()));
        return;
      case '/':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(req.method === 'HEAD' ? undefined : `nginx-otel-sidecar ${VERSION}\n/metrics /healthz /readyz\n`);
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try /metrics, /healthz, /readyz\n');
    }
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${(err as Error).message}\n`);
  }
}

function verdict(res: ServerResponse, req: IncomingMessage, v: HealthVerdict): void {
  res.writeHead(v.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : `${v.reason}\n`);
}

/** Input counters summed over the inputs. */
export function sumInputCounters(inputs: readonly LineInput[]): InputCounters & { lagBytes: number } {
  const sum = {
    linesRead: 0, bytesRead: 0, linesTruncated: 0, rotations: 0, truncations: 0, filesOpened: 0,
    checkpointMisses: 0, datagramsReceived: 0, datagramsUnparsed: 0, linesDropped: 0, lagBytes: 0,
  };
  for (const input of inputs) {
    const c = input.counters;
    if (c !== undefined) {
      for (const key of Object.keys(c) as (keyof InputCounters)[]) sum[key] += c[key];
    }
    sum.lagBytes += input.lagBytes?.() ?? 0;
  }
  return sum;
}

/** Every metric the sidecar exposes: its own, named `nginx_otel_sidecar_*` (counters end in `_total`), then the request metrics. */
export function sidecarMetrics(sources: OpsSources): MetricFamily[] {
  const s = sources.stats();
  const i = sumInputCounters(sources.inputs);
  const facts = sources.health();
  const p = METRIC_PREFIX;
  const families: MetricFamily[] = [
    gauge(`${p}info`, 'Always 1; the version is in the label.', 1, { version: VERSION }),
    gauge(`${p}start_time_seconds`, 'When the sidecar started, in seconds since the epoch.', s.startedAt / 1000),
    // input
    counter(`${p}lines_read_total`, 'Lines read from the inputs (files, stdin, syslog).', i.linesRead),
    counter(`${p}bytes_read_total`, 'Bytes read from the inputs.', i.bytesRead),
    counter(`${p}lines_truncated_total`, 'Lines longer than --max-line-bytes, cut to it (and usually malformed then).', i.linesTruncated),
    counter(`${p}lines_dropped_total`, 'Syslog lines dropped because the pipeline was too far behind.', i.linesDropped),
    counter(`${p}file_rotations_total`, 'Rename rotations followed (left the old file for the new one).', i.rotations),
    counter(`${p}file_truncations_total`, 'Truncations seen (copytruncate rotation, or a file rewritten in place).', i.truncations),
    counter(`${p}files_opened_total`, 'Log files opened.', i.filesOpened),
    counter(`${p}checkpoint_misses_total`, 'Checkpointed files not found at start (read from the start of the current file).', i.checkpointMisses),
    counter(`${p}syslog_datagrams_received_total`, 'Syslog datagrams received.', i.datagramsReceived),
    counter(`${p}syslog_datagrams_unparsed_total`, 'Syslog datagrams without a recognised header (delivered whole).', i.datagramsUnparsed),
    // parse, model
    counter(`${p}lines_parsed_total`, 'Lines parsed into requests.', s.linesParsed),
    counter(`${p}lines_malformed_total`, 'Lines that could not be parsed (logged, skipped).', s.linesMalformed),
    counter(`${p}requests_sampled_out_total`, 'Requests left out by sampling (--sample-ratio); their lines count as parsed.', s.requestsSampledOut),
    counter(`${p}requests_kept_for_cause_total`, 'Requests kept whatever the ratio: slow or failed connect, suspected SYN retransmit, error, retry.', s.requestsKeptForCause),
    counter(`${p}spans_created_total`, 'Spans built from parsed lines (sampled-out requests excluded).', s.spansCreated),
    // deliver
    counter(`${p}spans_exported_total`, 'Spans the collector accepted.', s.spansExported),
    counter(`${p}spans_rejected_total`, 'Spans the collector rejected as invalid (HTTP 400/413, or named in a partial success): dropped, not retried.', s.spansRejected),
    counter(`${p}spans_failed_total`, 'Spans given up on (not delivered before the shutdown deadline).', s.spansFailed),
    gauge(`${p}spans_queued`, 'Spans waiting for the collector: batched, in flight, or waiting for a retry.', s.spansQueued),
    counter(`${p}export_batches_total`, 'Batch exports attempted, retries included (the exporter itself may make several HTTP requests within OTEL_EXPORTER_OTLP_TIMEOUT for one).', s.exportBatches),
    counter(`${p}export_retries_total`, 'Batch exports that failed and were scheduled again.', s.exportRetries),
    counter(`${p}export_failures_total`, 'Batch exports that failed (collector unreachable, 5xx, 429, timeout).', s.exportFailures),
    {
      name: `${p}export_latency_seconds`,
      help: 'Time from sending an export request to the collector accepting it.',
      type: 'summary',
      samples: [
        { suffix: '_sum', value: s.exportLatencySecondsSum },
        { suffix: '_count', value: s.exportLatencyCount },
      ],
    },
    gauge(`${p}export_failing_seconds`, 'How long exports have failed without a success (0 while they succeed).', failingFor(facts) / 1000),
    gauge(`${p}last_export_timestamp_seconds`, 'When the collector last accepted an export, in seconds since the epoch (0: never).', s.lastExportAt / 1000),
    // checkpoint
    gauge(`${p}checkpoint_lag_bytes`, 'Bytes written to the followed files but not yet delivered and checkpointed.', i.lagBytes),
  ];
  if (sources.checkpoint !== undefined) {
    families.push(
      counter(`${p}checkpoint_writes_total`, 'Checkpoint file writes.', sources.checkpoint.stats.writes),
      counter(`${p}checkpoint_write_errors_total`, 'Checkpoint file writes that failed.', sources.checkpoint.stats.writeErrors),
    );
  }
  families.push(
    gauge(`${p}healthy`, '1 while /healthz answers 200.', checkHealth(facts).ok ? 1 : 0),
    gauge(`${p}ready`, '1 while /readyz answers 200.', checkReady(facts).ok ? 1 : 0),
    gauge(`${p}resident_memory_bytes`, 'Resident set size of the process (worker threads included).', process.memoryUsage.rss()),
  );
  const requests = sources.requestMetrics?.();
  if (requests !== undefined) families.push(...requestMetricFamilies(requests));
  return families;
}
