import { Command } from 'commander';
import { FileReplayInput } from '../../input/file-replay-input.js';
import { assembleProcessor } from '../../pipeline/assemble-processor.js';
import { runInput } from '../../pipeline/pipeline.js';
import { fatal } from '../fatal.js';
import { addExportOptions, REPLAY_DEFAULTS, seconds, type ExportOptions } from '../options.js';

interface ReplayOptions extends ExportOptions {
  giveUpAfter: number;
}

export function replayCommand(): Command {
  return addExportOptions(new Command('replay'), REPLAY_DEFAULTS)
    .description('process log files once (plain, .gz, or - for stdin), export their spans, flush and print a summary')
    .argument('<file...>', 'access log files')
    .option('--give-up-after <seconds>', 'stop retrying a batch the collector has refused for this long, count it as failed', seconds, 30)
    .action(async (files: string[], options: ReplayOptions) => {
      const log = (message: string) => process.stderr.write(`nginx-otel-sidecar: ${message}\n`);
      const input = new FileReplayInput(files);
      await input.check(); // a typo fails before any worker starts
      const processor = assembleProcessor(options, log, fatal, options.giveUpAfter * 1000);
      const started = performance.now();
      // A file that fails half way (a truncated .gz): what was read before is still delivered.
      let failure: unknown;
      await runInput(input, processor, new AbortController().signal).catch((err: unknown) => { failure = err; });
      const delivered = await processor.flush(options.giveUpAfter * 1000 + 10_000);
      await processor.shutdown();
      const stats = processor.stats();
      const elapsed = (performance.now() - started) / 1000;
      const failed = stats.spansFailed + stats.spansRejected;
      process.stderr.write(
        `replayed ${stats.linesRead} lines (${stats.linesMalformed} malformed) → ${stats.spansExported} spans exported, ` +
        `${failed} failed, in ${elapsed.toFixed(2)} s (${Math.round(stats.linesRead / elapsed)} lines/s)\n`,
      );
      if (failure !== undefined) throw failure;
      if (!delivered || failed > 0) process.exitCode = 1;
    });
}
