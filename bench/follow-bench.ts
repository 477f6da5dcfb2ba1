// Benchmark: what `run` costs while following a live log. Appends generated lines to a file
// at a steady rate (as nginx would), runs the real CLI on it to a local OTLP/HTTP sink, and
// reports the sidecar's CPU (share of one core) and RSS over the measured window.
//   npm run build && node dist/bench/follow-bench.js [--rate 20000] [--seconds 30] [--sample-ratio 0.1] [--workers 0]
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateLog } from './generate-log.js';
import { startSink } from './otlp-sink.js';
import { cpuSeconds, rssMiB } from './proc-usage.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '30' },
    'sample-ratio': { type: 'string' },
    workers: { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const WARM_UP_S = 3;
const TICK_MS = 50;

const dir = join(tmpdir(), 'nginx-otel-sidecar-bench');
mkdirSync(dir, { recursive: true });
const total = rate * (seconds + WARM_UP_S + 1);
const source = join(dir, `follow-source-${total}.log`);
if (!existsSync(source)) {
  process.stderr.write(`generating ${total} lines into ${source}…\n`);
  await generateLog(source, total);
}
const lines = readFileSync(source);
const log = join(dir, 'follow.log');
writeFileSync(log, '');

const sink = await startSink();
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const args = [cli, 'run', '--file', log, '--start-at', 'beginning', '--endpoint', sink.url, '--status-interval', '0'];
if (values['sample-ratio'] !== undefined) args.push('--sample-ratio', values['sample-ratio']);
if (values.workers !== undefined) args.push('--workers', values.workers);
const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
await sleep(1000); // start-up

/** Appends `rate` lines a second in TICK_MS steps, catching up on late ticks. */
let offset = 0;
let written = 0;
const started = performance.now();
const writer = setInterval(() => {
  const due = Math.min(Math.floor(((performance.now() - started) / 1000) * rate), total);
  if (due <= written) return;
  let end = offset;
  for (let n = written; n < due; n++) end = lines.indexOf(10, end) + 1;
  appendFileSync(log, lines.subarray(offset, end));
  offset = end;
  written = due;
}, TICK_MS);

await sleep(WARM_UP_S * 1000);
const cpu0 = cpuSeconds(child.pid!);
const t0 = performance.now();
const rss: number[] = [];
for (let s = 0; s < seconds; s++) {
  await sleep(1000);
  rss.push(rssMiB(child.pid!));
}
const cpu = cpuSeconds(child.pid!) - cpu0;
const wall = (performance.now() - t0) / 1000;
const writtenPerS = written / ((performance.now() - started) / 1000);
clearInterval(writer);

child.kill('SIGTERM');
const code = await exited;
await sink.close();
rmSync(log, { force: true });
const stopped = stderr.split('\n').find((l) => l.includes('stopped:'));
if (code !== 0) {
  process.stderr.write(stderr);
  throw new Error(`the sidecar exited with ${code}`);
}
const mean = rss.reduce((a, b) => a + b, 0) / rss.length;
console.log(stopped?.trim());
console.log(`rate: ${Math.round(writtenPerS)} lines/s for ${wall.toFixed(0)} s (after ${WARM_UP_S} s warm-up)  ` +
  `cpu: ${((cpu / wall) * 100).toFixed(0)} % of one core (${((cpu / (writtenPerS * wall)) * 1e6).toFixed(1)} µs/line)  ` +
  `RSS: mean ${mean.toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB  ` +
  `sink: ${sink.requests()} requests, ${(sink.bytes() / 2 ** 20).toFixed(0)} MiB  ` +
  `sample ratio: ${values['sample-ratio'] ?? 'run default'}  workers: ${values.workers ?? 'run default'}`);
