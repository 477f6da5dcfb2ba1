// analyze's speed on a large log made from real recorded lines (test/fixtures), repeated and
// perturbed: a fresh increasing $msec and $request_id per line, ±1 ms on every non-zero time.
// Default 200,000 lines with a loose floor (CI shares two cores with other tests); measure
// the real figure with e.g.
//   ANALYZE_SPEED_LINES=1000000 npx vitest run test/analyze/speed.test.ts
// which prints lines, MB, seconds and lines/s.
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeFiles } from '../../src/analyze/analyze.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const SOURCES = ['syn-drop-linear.json.log', 'healthy.json.log', 'retries.json.log', 'connect-timeout.json.log'];
const LINES = Number(process.env.ANALYZE_SPEED_LINES ?? 200_000);
/** Lines per second below which something is badly wrong (measured: ≈265,000/s for 1M lines, on this 2-core machine under load). */
const FLOOR = 40_000;

const dir = mkdtempSync(join(tmpdir(), 'nos-analyze-speed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function generate(path: string, count: number): Promise<void> {
  const source = SOURCES.flatMap((name) => readFileSync(join(FIXTURES, name), 'utf8').split('\n').filter((l) => l !== ''));
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const hex = (): string => {
    let s = '';
    for (let i = 0; i < 4; i++) s += ((random() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
    return s;
  };
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

describe('analyze speed', () => {
  it(`analyzes ${LINES.toLocaleString('en-US')} recorded-and-perturbed lines fast, with the same verdicts`, async () => {
    const path = join(dir, 'big.json.log');
    await generate(path, LINES);
    const started = performance.now();
    const result = await analyzeFiles([path]);
    const seconds = (performance.now() - started) / 1000;
    const mb = statSync(path).size / 1e6;
    const rate = LINES / seconds;
    process.stdout.write(`analyze: ${LINES.toLocaleString('en-US')} lines, ${mb.toFixed(0)} MB in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en-US')} lines/s\n`);
    expect(result.lines).toBe(LINES);
    expect(result.malformed).toBe(0);
    expect(result.upstreams.filter((u) => u.signature.suspected)).toHaveLength(1);
    expect(rate).toBeGreaterThan(FLOOR);
  }, 600_000);
});
