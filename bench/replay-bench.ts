// Benchmark: replay a generated log through the real CLI to a local OTLP/HTTP sink and
// report lines/s, CPU seconds and peak RSS of the sidecar process.
//   npm run build && node dist/bench/replay-bench.js [--lines 1000000] [--protocol http/protobuf] [--workers 2]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateLog } from './generate-log.js';
import { startSink } from './otlp-sink.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    protocol: { type: 'string', default: 'http/protobuf' },
    exporter: { type: 'string', default: 'otlp' },
    workers: { type: 'string', default: '2' },
  },
});
const lines = Number(values.lines);
const dir = join(tmpdir(), 'nginx-otel-sidecar-bench');
mkdirSync(dir, { recursive: true });
const log = join(dir, `access-${lines}.log`);
if (!existsSync(log)) {
  process.stderr.write(`generating ${lines} lines into ${log}…\n`);
  await generateLog(log, lines);
}

const sink = await startSink();
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const usageHook = fileURLToPath(new URL('./report-usage.js', import.meta.url));
const started = performance.now();
const child = spawn(process.execPath, ['--import', usageHook, cli, 'replay', '--endpoint', sink.url, '--protocol', values.protocol!, '--exporter', values.exporter!, '--workers', values.workers!, log], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? 1)));
const seconds = (performance.now() - started) / 1000;
await sink.close();

const usageLine = stderr.split('\n').find((line) => line.startsWith('resource-usage '));
const summary = stderr.split('\n').find((line) => line.startsWith('replayed '));
if (code !== 0 || usageLine === undefined) {
  process.stderr.write(stderr);
  throw new Error(`the sidecar exited with ${code}`);
}
const usage = JSON.parse(usageLine.slice('resource-usage '.length)) as { userSeconds: number; systemSeconds: number; maxRssMiB: number };
const cpu = usage.userSeconds + usage.systemSeconds;
console.log(summary);
console.log(`lines: ${lines}  wall: ${seconds.toFixed(2)} s  lines/s: ${Math.round(lines / seconds)}  ` +
  `cpu: ${cpu.toFixed(2)} s (user ${usage.userSeconds.toFixed(2)}, sys ${usage.systemSeconds.toFixed(2)}, ${(cpu / lines * 1e6).toFixed(1)} µs/line)  ` +
  `peak RSS: ${usage.maxRssMiB.toFixed(0)} MiB  sink: ${sink.requests()} requests, ${(sink.bytes() / 2 ** 20).toFixed(0)} MiB (${values.protocol})`);
