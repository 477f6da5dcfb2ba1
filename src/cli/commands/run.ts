import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CheckpointStore } from '../../deliver/checkpoint-store.js';
import { InOrderAcknowledger } from '../../deliver/delivery-ticket.js';
import { FileGlobInput } from '../../input/file-glob-input.js';
import { FileTail } from '../../input/file-tail.js';
import type { LineInput } from '../../input/line-chunk.js';
import { DEFAULT_MAX_LINE_BYTES, MIN_MAX_LINE_BYTES } from '../../input/line-splitter.js';
import { StdinInput } from '../../input/stdin-input.js';
import { SyslogInput } from '../../input/syslog-input.js';
import type { HealthInput } from '../../ops/health.js';
import { startOpsServer, type OpsServer } from '../../ops/ops-server.js';
import { startMetrics, type MetricsPipeline } from '../../ops/metrics/metrics-pipeline.js';
import { PipelineStats } from '../../ops/pipeline-stats.js';
import { StatusLine } from '../../ops/status-line.js';
import { assembleProcessor } from '../../pipeline/assemble-processor.js';
import type { ChunkProcessor } from '../../pipeline/chunk-processor.js';
import { fatal } from '../fatal.js';
import { addExportOptions, RUN_DEFAULTS, positiveInteger, seconds, type ExportOptions } from '../options.js';

interface RunOptions extends ExportOptions {
  file: string[];
  syslog: string[];
  checkpoint?: string;
  checkpointInterval: number;
  startAt: 'end' | 'beginning';
  shutdownTimeout: number;
  statusInterval: number;
  maxLineBytes: number;
  listen?: string;
  unhealthyAfter: number;
}

/** Characters that make a --file value a glob (as file-glob-input.ts reads them). */
const GLOB_MAGIC = /[*?[\]{}]/;
/** After the shutdown deadline: how long the last steps (checkpoint write, worker stop) may take. */
const LAST_STEPS_MS = 3000;

export function runCommand(): Command {
  return addExportOptions(new Command('run'), RUN_DEFAULTS)
    .description('follow nginx access logs (files, globs, stdin or syslog) and export every request as spans, until SIGTERM')
    .option('--file <path>', 'an access log to follow; a glob (/var/log/nginx/*.log) follows every live file it matches; - reads standard input (repeatable)', collect, [])
    .option('--syslog <address>', 'receive what nginx sends with access_log syslog:server=…: udp://127.0.0.1:5140, 127.0.0.1:5140 or unix:/path (repeatable)', collect, [])
    .option('--checkpoint <path>', 'remember how far each file was delivered, to resume there after a restart')
    .option('--checkpoint-interval <seconds>', 'how often delivered positions are written to --checkpoint (after a crash, what was delivered since the last write is sent again)', positiveSeconds, 1)
    .addOption(new Option('--start-at <where>', 'where to start in a file with no checkpoint').choices(['end', 'beginning']).default('end'))
    .option('--max-line-bytes <n>', 'longer lines are cut to this and counted', lineCap, DEFAULT_MAX_LINE_BYTES)
    .option('--listen <host:port>', 'serve /metrics (Prometheus), /healthz and /readyz here, e.g. 127.0.0.1:9464')
    .option('--unhealthy-after <seconds>', '/healthz turns 503 once exports have failed continuously this long', seconds, 60)
    .option('--shutdown-timeout <seconds>', 'on SIGTERM, how long to keep delivering before exiting', seconds, 10)
    .option('--status-interval <seconds>', 'how often to log a status line (0: never)', seconds, 30)
    .action(async (options: RunOptions) => {
      process.exit(await run(options));
    });
}

async function run(options: RunOptions): Promise<number> {
  if (options.file.length === 0 && options.syslog.length === 0) throw new Error('nothing to follow: give --file <path>, --file - or --syslog <address>');
  const log = (message: string) => process.stderr.write(`${new Date().toISOString()} nginx-otel-sidecar: ${message}\n`);

  // Everything that can fail on bad options comes before the worker threads exist.
  const stdinCount = options.file.filter((f) => f === '-').length;
  if (stdinCount > 1) throw new Error('--file - (standard input) can be given once');
  const filePaths = options.file.filter((f) => f !== '-');
  const checkpoint = options.checkpoint !== undefined ? await CheckpointStore.open(options.checkpoint, log) : undefined;
  const inputs: LineInput[] = [];
  const health: HealthInput[] = [];
  const tailOptions = { startAt: options.startAt, checkpoint, maxLineBytes: options.maxLineBytes, warn: log };
  if (filePaths.some((p) => GLOB_MAGIC.test(p))) {
    // One input for every pattern and path, so a path matched twice is followed once.
    const glob = new FileGlobInput({ ...tailOptions, patterns: filePaths.map((p) => resolve(p)) });
    inputs.push(glob);
    health.push({ name: `files ${filePaths.join(' ')}`, isOpen: () => glob.counters.filesOpened > 0 });
  } else {
    // A path given twice (or spelled two ways) is followed once.
    for (const path of new Set(filePaths.map((p) => resolve(p)))) {
      const tail = new FileTail({ ...tailOptions, path });
      inputs.push(tail);
      health.push({ name: `file ${path}`, isOpen: () => tail.counters.filesOpened > 0 });
    }
  }
  if (stdinCount === 1) {
    inputs.push(new StdinInput({ maxLineBytes: options.maxLineBytes }));
    health.push({ name: 'stdin', isOpen: () => true });
  }
  for (const address of options.syslog) {
    const input = new SyslogInput({ listen: syslogServer(address), warn: log });
    let open = false;
    input.listening().then(() => {
      open = true;
      const where = input.address.kind === 'unix' ? `unix:${input.address.path}` : `udp ${input.address.host}:${input.port()}`;
      log(`listening for syslog on ${where}`);
    }, () => {});
    inputs.push(input);
    health.push({ name: `syslog ${address}`, isOpen: () => open });
  }

  const stop = new AbortController();
  let stopping = false;
  let processor: ChunkProcessor | undefined;
  let metrics: MetricsPipeline | null = null;
  let ops: OpsServer | undefined;
  if (options.listen !== undefined) {
    ops = await startOpsServer(options.listen, {
      stats: () => processor?.stats() ?? new PipelineStats(),
      inputs,
      checkpoint,
      health: () => ({
        inputs: health,
        failingSince: processor?.stats().failingSince ?? 0,
        now: Date.now(),
        unhealthyAfterMs: options.unhealthyAfter * 1000,
        stopping,
      }),
      requestMetrics: () => metrics?.snapshot(),
    });
  }
  try {
    // Recorded for /metrics even when they are not exported over OTLP.
    metrics = startMetrics(options, log, process.env, ops !== undefined);
    processor = assembleProcessor(options, log, fatal, undefined, metrics);
  } catch (err) {
    await ops?.close();
    throw err;
  }
  if (ops !== undefined) log(`serving ${ops.url}/metrics, /healthz and /readyz`);
  checkpoint?.startAutoFlush(options.checkpointInterval * 1000);
  const status = new StatusLine(() => processor!.stats(), inputs, log);
  if (options.statusInterval > 0) status.start(options.statusInterval * 1000);

  // The last steps, on every way out: a final status line, the checkpoint (it holds only
  // acknowledged positions, so writing it is always safe), the ops server.
  let finished = false;
  const finish = async (code: number): Promise<number> => {
    if (finished) return code;
    finished = true;
    status.stop();
    status.print('stopped');
    await withTimeout(checkpoint?.close().catch((err: Error) => log(`could not write the checkpoint: ${err.message}`)), LAST_STEPS_MS);
    await withTimeout(ops?.close(), LAST_STEPS_MS);
    return code;
  };

  let stopAt: number | undefined;
  let hardStop: NodeJS.Timeout | undefined;
  const forceExit = async (why: string): Promise<void> => {
    const s = processor!.stats();
    log(`${why}: exiting with ${s.spansQueued} spans undelivered; the checkpoint points before them, so files are read from there on restart`);
    process.exit(await finish(1));
  };
  /** Stops reading; from here on, at most --shutdown-timeout until the process exits. */
  const beginStop = (why: string) => {
    if (stopping && hardStop !== undefined) return;
    stopping = true;
    stopAt ??= Date.now();
    log(`${why}: stopping reads, delivering what is queued (up to ${options.shutdownTimeout} s)`);
    stop.abort();
    // Reads and the flush wait for the collector; this is the promise that they will not wait longer.
    hardStop = setTimeout(() => void forceExit('shutdown timeout'), Math.max(0, stopAt + options.shutdownTimeout * 1000 + 500 - Date.now()));
  };
  const onSignal = (signal: string) => {
    if (hardStop !== undefined) void forceExit(`second ${signal}`);
    else beginStop(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  const followed = [...filePaths, ...(stdinCount === 1 ? ['stdin'] : []), ...options.syslog.map((a) => `syslog ${a}`)];
  log(`following ${followed.join(', ')}`);

  let failure: Error | undefined;
  await Promise.all(inputs.map((input) => follow(input, processor!, stop.signal).catch((err: Error) => {
    failure ??= err;
    beginStop(`input failed: ${err.message}`);
  })));

  // Inputs ended: a signal, a failure, or every input reached its end (stdin EOF).
  const budget = stopAt === undefined ? options.shutdownTimeout * 1000 : Math.max(0, stopAt + options.shutdownTimeout * 1000 - Date.now());
  stopping = true;
  // (a worker takes the flush only after the chunks it holds, which wait while the collector is away)
  const deadline = Date.now() + budget;
  const delivered = await Promise.race([processor.flush(budget), sleep(budget + 500).then(() => false)]);
  if (hardStop !== undefined) clearTimeout(hardStop);
  // Delivered: a moment to close cleanly. Not: the deadline stands (the exporter would
  // otherwise finish its own retries of the requests in flight first).
  await withTimeout(processor.shutdown(), delivered ? LAST_STEPS_MS : Math.max(0, deadline - Date.now()));
  const s = processor.stats();
  if (!delivered) {
    log(`${s.spansFailed || s.spansQueued} spans were not delivered before the shutdown deadline; the checkpoint still points before them, so files are read from there on restart`);
  }
  return finish(failure !== undefined || !delivered ? 1 : 0);
}

/**
 * Runs one input into the processor. Resume positions go back to the input in order, per
 * followed path: a glob input interleaves several files' chunks, and each file's checkpoint
 * must advance on its own (an acknowledger over the whole stream passes on only the last
 * position of a run of delivered chunks, which would hold back every other file's).
 */
export async function follow(input: LineInput, processor: ChunkProcessor, signal: AbortSignal): Promise<void> {
  const byPath = new Map<string, InOrderAcknowledger>();
  const nothing = () => {};
  await input.run((chunk) => {
    const path = chunk.resume?.path;
    if (path === undefined) return processor.process(chunk, nothing);
    let acknowledger = byPath.get(path);
    if (acknowledger === undefined) {
      acknowledger = new InOrderAcknowledger((position) => input.acknowledge?.(position));
      byPath.set(path, acknowledger);
    }
    return processor.process(chunk, acknowledger.track(chunk));
  }, signal);
}

/** `udp://127.0.0.1:5140` → `127.0.0.1:5140`; `unix:///run/x.sock` → `unix:/run/x.sock`; others as nginx writes them. */
export function syslogServer(address: string): string {
  const a = address.trim();
  if (a.startsWith('udp://')) return a.slice('udp://'.length);
  if (a.startsWith('unix://')) return `unix:${a.slice('unix://'.length)}`;
  if (/^[a-z]+:\/\//.test(a)) throw new Error(`--syslog ${address}: only udp:// and unix: are supported (nginx sends syslog over UDP or a unix datagram socket)`);
  return a;
}

async function withTimeout(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (promise === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

function positiveSeconds(value: string): number {
  const n = seconds(value);
  if (n < 0.01) throw new InvalidArgumentError('at least 0.01 seconds');
  return n;
}

/** LineSplitter's bound, checked when the options are read. */
function lineCap(value: string): number {
  const n = positiveInteger(value);
  if (n < MIN_MAX_LINE_BYTES) throw new InvalidArgumentError(`at least ${MIN_MAX_LINE_BYTES} bytes`);
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
