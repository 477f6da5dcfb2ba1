import type { Readable } from 'node:stream';
import { Command, InvalidArgumentError } from 'commander';
import { analyzeFiles } from '../../analyze/analyze.js';
import { renderJsonReport } from '../../analyze/json-report.js';
import { InputError } from '../../analyze/read-input.js';
import { renderTextReport } from '../../analyze/text-report.js';
import { addFormatOptions, type FormatOptions } from '../options.js';

interface AnalyzeCommandOptions extends FormatOptions {
  json?: boolean;
  stepTolerance: number;
  progress?: boolean;
}

/** Where the command reads and writes; tests pass their own. */
export interface AnalyzeIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  stdin: Readable;
}

/**
 * `analyze <file...>`: reads historical access logs (plain, gzip, `-` for stdin) and reports
 * per upstream the request/attempt counts, time quantiles, failed connects and the
 * SYN-retransmit signature, with a verdict per upstream. Exit 0 on success (whatever the
 * verdicts), 2 when an input cannot be read or the options are wrong.
 */
export function analyzeCommand(io: AnalyzeIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Command {
  const command = addFormatOptions(new Command('analyze'))
    .description('read access logs once (plain, .gz, or - for stdin) and report per upstream: counts, connect/header/response time quantiles, failed connects, and connects stalled by SYN retransmissions (1 s, 2 s, 3 s… steps) with a verdict')
    .argument('<file...>', 'access log files')
    .option('--json', 'print a JSON report instead of text')
    .option('--step-tolerance <seconds>', 'how far above a SYN-retransmission step (1, 2, 3… s) a connect may land and count as stalled', tolerance, 0.2)
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never show progress')
    .configureOutput({ writeErr: (text) => io.stderr.write(text), writeOut: (text) => io.stdout.write(text) });

  return command.action(async (files: string[], options: AnalyzeCommandOptions) => {
    const showProgress = options.progress ?? io.stderr.isTTY === true;
    let result;
    try {
      result = await analyzeFiles(files, {
        logFormat: options.logFormat,
        escape: options.escape,
        nginxConf: options.nginxConf,
        logFormatName: options.logFormatName,
        stepTolerance: options.stepTolerance,
        stdin: io.stdin,
        progress: { stream: io.stderr, enabled: showProgress },
      });
    } catch (err) {
      if (err instanceof InputError) {
        command.error(`nginx-otel-sidecar analyze: ${(err as Error).message}`, { exitCode: 2, code: 'analyze.input' });
      }
      throw err;
    }
    io.stdout.write(options.json === true ? renderJsonReport(result) : renderTextReport(result));
  });
}

function tolerance(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new InvalidArgumentError('give seconds above 0 and below 1, e.g. 0.2');
  return n;
}
