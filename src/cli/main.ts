import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { analyzeCommand } from './commands/analyze.js';
import { printConfigCommand } from './commands/print-config.js';
import { replayCommand } from './commands/replay.js';
import { runCommand } from './commands/run.js';

const program = new Command('nginx-otel-sidecar')
  .description('Turns nginx access logs into OpenTelemetry spans: each request, each upstream attempt and its TCP connect phase.')
  .version(VERSION)
  .exitOverride()
  .addCommand(runCommand())
  .addCommand(replayCommand())
  .addCommand(analyzeCommand())
  .addCommand(printConfigCommand());
for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help/version the user asked for).
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`nginx-otel-sidecar: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
