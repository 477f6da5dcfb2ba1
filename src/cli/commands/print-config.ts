import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { packageFile } from '../package-files.js';

const PARTS = {
  'log-format': 'nginx/otel-log-format.conf',
  'trace-context': 'nginx/otel-trace-context.conf',
  'proxy-headers': 'nginx/otel-proxy-headers.conf',
} as const;

export function printConfigCommand(): Command {
  return new Command('print-config')
    .description('print the nginx configuration to copy: the log format and the trace-context snippet (include both in http {})')
    .addOption(new Option('--part <part>', 'print only one part').choices(Object.keys(PARTS)))
    .action((options: { part?: keyof typeof PARTS }) => {
      const parts = options.part !== undefined ? [PARTS[options.part]] : [PARTS['log-format'], PARTS['trace-context']];
      process.stdout.write(parts.map((file) => `# ---- ${file} ----\n${readFileSync(packageFile(file), 'utf8')}`).join('\n'));
    });
}
