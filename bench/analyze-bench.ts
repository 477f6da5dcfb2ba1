// Benchmark: `analyze` on a large log made from lines recorded from real nginx
// (test/fixtures), repeated with a fresh $msec and $request_id and ±1 ms on the times;
// reports lines/s, CPU seconds and peak RSS of the CLI process.
//   npm run build && node dist/bench/analyze-bench.js [--lines 1000000]
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '1000000' } } });
const lines = Number(values.lines);
const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const SOURCES = ['syn-drop-linear.json.log', 'healthy.json.log', 'retries.json.log', 'connect-timeout.json.log'];

async function generate(path: string, count: number): Promise<void> {
  const source = SOURCES.flatMap((name) => readFileSync(join(fixtures, name), 'utf8').split('\n').filter((l) => l !== ''));
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const hex = (): string => Array.from({ length: 4 }, () => ((random() * 2 ** 32) >>> 0).toString(16).padStart(8, '0')).join('');
  const jitter = (t: string): string =>
    t === '-' || t === '' || Number(t) === 0 ? t : Math.max(0, Number(t) + (Math.floor(random() * 3) - 1) / 1000).toFixed(3);
  const out = createWriteStream(path);
  let msec = 1_790_000_000;
  for (let i = 0; i < count; i++) {
    msec += 0.0005;
    const line = source[Math.floor(random() * source.length)]
      .replace(/"msec":"[^"]*"/, `"msec":"${msec.toFixed(3)}"`)
      .replace(/"request_id":"[^"]*"/, `"request_id":"${hex()}"`)
      .replace(/"(upstream_(?:connect|header|response)_time|request_time)":"([^"]*)"/g, (_m, key: string, value: string) =>
        `"${key}":"${value.split(/(, | : )/).map((p) => (p === ', ' || p === ' : ' ? p : jitter(p))).join('')}"`);
    if (!out.write(line + '\n')) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

const dir = join(tmpdir(), 'nginx-otel-sidecar-bench');
mkdirSync(dir, { recursive: true });
const log = join(dir, `analyze-${lines}.json.log`);
if (!existsSync(log)) {
  process.stderr.write(`generating ${lines} lines into ${log}…\n`);
  await generate(log, lines);
}

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const usageHook = fileURLToPath(new URL('./report-usage.js', import.meta.url));
const started = performance.now();
const child = spawn(process.execPath, ['--import', usageHook, cli, 'analyze', '--json', log], { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? 1)));
const seconds = (performance.now() - started) / 1000;
const usageLine = stderr.split('\n').find((line) => line.startsWith('resource-usage '));
if (code !== 0 || usageLine === undefined) {
  process.stderr.write(stderr);
  throw new Error(`analyze exited with ${code}`);
}
const usage = JSON.parse(usageLine.slice('resource-usage '.length)) as { userSeconds: number; systemSeconds: number; maxRssMiB: number };
const report = JSON.parse(stdout) as { lines: number; malformed: number; upstreams: Array<{ address: string; syn_retransmit_suspected: number; verdict: string }> };
const suspected = report.upstreams.filter((u) => u.syn_retransmit_suspected > 0).map((u) => u.address);
console.log(`analyze: ${report.lines} lines (${report.malformed} malformed, ${(statSync(log).size / 1e6).toFixed(0)} MB) in ${seconds.toFixed(2)} s = ` +
  `${Math.round(report.lines / seconds)} lines/s; cpu ${(usage.userSeconds + usage.systemSeconds).toFixed(2)} s; peak RSS ${usage.maxRssMiB.toFixed(0)} MiB; ` +
  `suspected upstreams: ${suspected.join(', ') || 'none'}`);
