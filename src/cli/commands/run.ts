import { Command, Option } from 'commander';
import { CheckpointStore } from '../../deliver/checkpoint-store.js';
import { FileTail } from '../../input/file-tail.js';
import type { LineInput } from '../../input/line-chunk.js';
import { StatusLine } from '../../ops/status-line.js';
import { assembleProcessor } from '../../pipeline/assemble-processor.js';
import { runInput } from '../../pipeline/pipeline.js';
import { fatal } from '../fatal.js';
import { addExportOptions, positiveInteger, seconds, type ExportOptions } from '../options.js';

interface RunOptions extends ExportOptions {
  file: string[];
  checkpoint?: string;
  startAt: 'end' | 'beginning';
  shutdownTimeout: number;
  statusInterval: number;
  maxLineBytes: number;
}

export function runCommand(): Command {
  return addExportOptions(new Command('run'), 0.1)
    .description('follow nginx access logs and export every request as spans, until SIGTERM')
    .option('--file <path>', 'an access log to follow (repeatable)', collect, [])
    .option('--checkpoint <path>', 'remember how far each file was delivered, to resume there after a restart')
    .addOption(new Option('--start-at <where>', 'where to start in a file with no checkpoint').choices(['end', 'beginning']).default('end'))
    .option('--max-line-bytes <n>', 'longer lines are cut to this and counted', positiveInteger, 1024 * 1024)
    .option('--shutdown-timeout <seconds>', 'on SIGTERM, how long to keep delivering before exiting', seconds, 10)
    .option('--status-interval <seconds>', 'how often to log a status line (0: never)', seconds, 30)
    .action(async (options: RunOptions) => {
      if (options.file.length === 0) throw new Error('nothing to follow: give --file <path>');
      const log = (message: string) => process.stderr.write(`${new Date().toISOString()} nginx-otel-sidecar: ${message}\n`);
      const processor = assembleProcessor(options, log, fatal);
      const checkpoint = options.checkpoint !== undefined ? await CheckpointStore.open(options.checkpoint, log) : undefined;
      checkpoint?.startAutoFlush();

      const inputs: LineInput[] = options.file.map((path) => new FileTail({
        path,
        startAt: options.startAt,
        checkpoint,
        maxLineBytes: options.maxLineBytes,
        warn: log,
      }));

      const stop = new AbortController();
      const status = new StatusLine(() => processor.stats(), inputs, log);
      if (options.statusInterval > 0) status.start(options.statusInterval * 1000);
      const onSignal = (signal: string) => {
        if (stop.signal.aborted) return;
        log(`${signal}: stopping reads, delivering what is queued (up to ${options.shutdownTimeout} s)`);
        stop.abort();
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
      log(`following ${options.file.join(', ')}`);

      await Promise.all(inputs.map((input) => runInput(input, processor, stop.signal)));
      const delivered = await processor.flush(options.shutdownTimeout * 1000);
      status.stop();
      await processor.shutdown();
      await checkpoint?.close();
      status.print('stopped');
      if (!delivered) {
        log(`${processor.stats().spansFailed} spans were not delivered before the shutdown deadline; the checkpoint still points before them, so they will be read again on restart`);
        process.exitCode = 1;
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
