import { InvalidArgumentError, Option, type Command } from 'commander';
import { availableParallelism } from 'node:os';
import { positiveSeconds } from '../ops/metrics/metrics-options.js';
import type { ProcessorOptions } from '../pipeline/assemble-processor.js';

/**
 * Defaults that differ by command, from bench/ on 2 cores. `run` follows a live log: one
 * thread does it with less CPU and memory than worker threads (20k lines/s: 13-16 % of a core
 * and 230 MiB RSS against 17 % and 390 MiB; 60k lines/s: 37 % and 230 MiB against 50 % and
 * 650 MiB) and keeps up to ~100k lines/s. `replay` works through files as fast as it can:
 * two workers where there are two cores (150k against 107k lines/s); on one core none, as
 * one worker beside the reading thread was slower than one thread even on two cores.
 */
export interface CommandDefaults {
  sampleRatio: number;
  workers: number;
}
export const RUN_DEFAULTS: CommandDefaults = { sampleRatio: 0.1, workers: 0 };
export const REPLAY_DEFAULTS: CommandDefaults = { sampleRatio: 1, workers: availableParallelism() >= 2 ? 2 : 0 };

/** Options that say how to read the log (shared by run, replay and analyze). */
export interface FormatOptions {
  logFormat?: string;
  escape?: 'default' | 'json' | 'none';
  nginxConf?: string;
  logFormatName?: string;
}

export type ExportOptions = ProcessorOptions;

export function addFormatOptions(command: Command): Command {
  return command
    .option('--log-format <format>', 'the log_format string nginx writes with (default: the recommended JSON format, or any JSON whose keys are variable names)')
    .addOption(new Option('--escape <mode>', 'the log_format escape= parameter for --log-format').choices(['default', 'json', 'none']))
    .option('--nginx-conf <path>', 'read the log format from this nginx config (follows include)')
    .option('--log-format-name <name>', 'the log_format name to read from --nginx-conf');
}

/** `run` keeps a tenth of ordinary requests (suits ~20k req/s), `replay` all; see CommandDefaults. */
export function addExportOptions(command: Command, defaults: CommandDefaults): Command {
  return addFormatOptions(command)
    .addOption(new Option('--exporter <kind>', 'where spans go: otlp (a collector) or console (a tree per request)').choices(['otlp', 'console']).default('otlp'))
    .option('--endpoint <url>', 'OTLP/HTTP traces URL (default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, or http://localhost:4318/v1/traces)')
    .addOption(new Option('--protocol <protocol>', 'OTLP encoding (default: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or http/protobuf)').choices(['http/protobuf', 'http/json']))
    .option('--service-name <name>', 'service.name of the spans (default: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, or nginx)')
    .option('--record-query', 'record query strings as url.query (off: they often carry secrets)', false)
    .option('--step-tolerance <seconds>', 'how far above a SYN retransmission step a connect may land and be flagged', seconds, 0.2)
    .option('--sample-ratio <ratio>', 'share of ordinary requests to keep, chosen by trace id; slow, failed, retried and erroring requests are always kept', ratio, defaults.sampleRatio)
    .option('--keep-slow-connect <seconds>', 'always keep requests with a connect at least this slow', seconds, 0.5)
    .option('--no-honour-parent-sampling', "ignore an incoming traceparent's sampled flag (ordinary requests then follow --sample-ratio)")
    .option('--max-batch-spans <n>', 'spans per export request', positiveInteger, 2048)
    .option('--max-in-flight <n>', 'export requests in flight at once', positiveInteger, 4)
    .option('--max-queued-spans <n>', 'spans held in memory at most (per worker) while the collector is slow or away; reading pauses beyond it', positiveInteger, 16_384)
    .option('--workers <n>', 'worker threads for parsing, span building and export (0: all in the main thread)', wholeNumber, defaults.workers)
    .option('--no-metrics', 'do not export metrics (request, upstream response and connect time histograms; SYN-retransmit, attempt and retry counters)')
    .option('--metrics-endpoint <url>', 'OTLP/HTTP metrics URL (default: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, --endpoint with /v1/traces → /v1/metrics, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics, or http://localhost:4318/v1/metrics); with --exporter console, metrics are sent only when this is given')
    .option('--metrics-interval <seconds>', 'how often metrics are exported (default: OTEL_METRIC_EXPORT_INTERVAL or 10)', positiveSeconds);
}

export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('not a number of seconds');
  return n;
}

export function ratio(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('not a ratio between 0 and 1');
  return n;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('not a whole number');
  return n;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('not a positive whole number');
  return n;
}
