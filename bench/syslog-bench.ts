// Benchmark: `run --syslog` under a steady UDP load, as nginx sends it with
// `access_log syslog:server=127.0.0.1:5140`. Reports how many datagrams the kernel dropped
// (socket buffer full), how many the sidecar received and dropped, and its CPU and RSS.
//   npm run build && node dist/bench/syslog-bench.js [--rate 20000] [--seconds 20] [--workers 0]
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
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
    seconds: { type: 'string', default: '20' },
    workers: { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const TICK_MS = 1;

const dir = join(tmpdir(), 'nginx-otel-sidecar-bench');
mkdirSync(dir, { recursive: true });
const total = rate * seconds;
const source = join(dir, `syslog-source-${total}.log`);
if (!existsSync(source)) {
  process.stderr.write(`generating ${total} lines into ${source}…\n`);
  await generateLog(source, total);
}
const lines = readFileSync(source, 'utf8').split('\n').filter((l) => l !== '');

const sink = await startSink();
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const args = [cli, 'run', '--syslog', 'udp://127.0.0.1:0', '--listen', '127.0.0.1:0', '--endpoint', sink.url, '--status-interval', '0'];
if (values.workers !== undefined) args.push('--workers', values.workers);
const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
const started = Date.now();
while (!/listening for syslog on udp 127\.0\.0\.1:\d+/.test(stderr) || !/serving http:/.test(stderr)) {
  if (Date.now() - started > 20_000) throw new Error(`the sidecar did not start:\n${stderr}`);
  await sleep(50);
}
const port = Number(/listening for syslog on udp 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
const ops = /serving (http:\/\/[^/\s]+)\/metrics/.exec(stderr)![1];

/** The kernel's drop counter of the sidecar's UDP socket (/proc/net/udp, last column). */
function kernelDrops(): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const row = readFileSync('/proc/net/udp', 'utf8').split('\n').find((l) => l.includes(`:${hexPort} `) && l.trim().split(/\s+/)[1].endsWith(`:${hexPort}`));
  return row === undefined ? 0 : Number(row.trim().split(/\s+/).at(-1));
}
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${ops}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

// nginx's syslog header: <190>Nov 27 03:05:24 host tag: message
const socket = createSocket('udp4');
const stamp = new Date().toUTCString().slice(8, 11) + ' ' + new Date().toUTCString().slice(5, 7).replace(/^0/, ' ') + ' 00:00:00';
let sent = 0;
const cpu0 = cpuSeconds(child.pid!);
const t0 = performance.now();
const rss: number[] = [];
const rssTimer = setInterval(() => rss.push(rssMiB(child.pid!)), 1000);
while (sent < total) {
  const due = Math.min(Math.floor(((performance.now() - t0) / 1000) * rate), total);
  for (; sent < due; sent++) socket.send(`<190>${stamp} bench nginx: ${lines[sent]}`, port, '127.0.0.1');
  await sleep(TICK_MS);
}
const sendSeconds = (performance.now() - t0) / 1000;
await sleep(2000); // let the sidecar finish what it received
const cpu = cpuSeconds(child.pid!) - cpu0;
clearInterval(rssTimer);
const received = await metric('nginx_otel_sidecar_syslog_datagrams_received_total');
const dropped = await metric('nginx_otel_sidecar_lines_dropped_total');
const kernel = kernelDrops();
socket.close();

child.kill('SIGTERM');
const code = await exited;
await sink.close();
if (code !== 0) {
  process.stderr.write(stderr);
  throw new Error(`the sidecar exited with ${code}`);
}
console.log(`sent ${sent} datagrams at ${Math.round(sent / sendSeconds)}/s: kernel dropped ${kernel}, sidecar received ${received} ` +
  `(${((received / sent) * 100).toFixed(2)} %) and dropped ${dropped}  cpu: ${((cpu / (sendSeconds + 2)) * 100).toFixed(0)} % of one core  ` +
  `RSS max ${Math.max(...rss).toFixed(0)} MiB  workers: ${values.workers ?? 'run default'}`);
