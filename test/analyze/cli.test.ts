// `nginx-otel-sidecar analyze` as a user runs it: the commander command with captured stdout
// and stderr, on logs recorded from real nginx (test/fixtures).
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { CommanderError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeCommand, type AnalyzeIo } from '../../src/cli/commands/analyze.js';
import type { JsonReport } from '../../src/analyze/json-report.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const SYN = join(FIXTURES, 'syn-drop-linear.json.log');
const HEALTHY = join(FIXTURES, 'healthy.json.log');
const STEADY = join(FIXTURES, 'steady-slow.json.log');
const dir = mkdtempSync(join(tmpdir(), 'nos-analyze-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run { stdout: string; stderr: string; exitCode: number }

async function run(args: string[], options: { stdin?: Readable; tty?: boolean } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: AnalyzeIo = {
    stdout: { write: (t: string) => { stdout += t; return true; } },
    stderr: { write: (t: string) => { stderr += t; return true; }, isTTY: options.tty ?? false },
    stdin: options.stdin ?? Readable.from([]),
  };
  const command = analyzeCommand(io).exitOverride();
  let exitCode = 0;
  try {
    await command.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    exitCode = err.exitCode;
  }
  return { stdout, stderr, exitCode };
}

/** The address behind the SYN-drop rule: the one with connects ≥ 0.99 s in the raw log. */
function droppy(path: string): string {
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const o = JSON.parse(line) as Record<string, string>;
    const addrs = o.upstream_addr.split(', ');
    const connects = o.upstream_connect_time.split(', ');
    const i = connects.findIndex((c) => c !== '-' && Number(c) >= 0.99);
    if (i !== -1) return addrs[i];
  }
  throw new Error('no stalled connect');
}

describe('analyze command', () => {
  it('is named analyze', () => {
    expect(analyzeCommand().name()).toBe('analyze');
  });

  it('text report: the verdict for the SYN-drop upstream, tables, and the histogram with the steps marked', async () => {
    const r = await run([SYN]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const address = droppy(SYN);
    expect(r.stdout).toMatch(new RegExp(`✗ ${address.replace(/\./g, '\\.')}: \\d+ of \\d+ connects \\([\\d.]+ %\\) stalled for exactly one SYN retransmission \\(≈1 s\\)`));
    expect(r.stdout).toContain('1 of 2 upstreams shows the SYN-retransmit signature.');
    expect(r.stdout).toContain('Upstreams by address');
    expect(r.stdout).toContain('Times by address (p50 / p90 / p99 / p99.9 / max)');
    expect(r.stdout).toContain(`Connect time, ${address}`);
    expect(r.stdout).toMatch(/ 1–2 s │█+ +\d+ \([\d.]+ %\) +◀ ≈1 s step: \d+ stalled/);
    expect(r.stdout).toContain('Retransmission schedule seen: linear');
  });

  it('text report on a healthy log says "No SYN-retransmit signature found"', async () => {
    const r = await run([HEALTHY]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/No SYN-retransmit signature found in 500 connects to 2 upstreams\./);
    expect(r.stdout).not.toContain('✗');
  });

  it('--json: the documented schema, times in seconds', async () => {
    const r = await run([SYN, HEALTHY, '--json']);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.lines).toBe(800);
    expect(report.malformed).toBe(0);
    expect(report.suspected_upstreams).toBe(1);
    expect(report.step_tolerance).toBe(0.2);
    for (const u of report.upstreams) {
      expect(typeof u.address).toBe('string');
      expect(Number.isInteger(u.requests)).toBe(true);
      for (const key of ['p50', 'p90', 'p99', 'p999', 'max'] as const) expect(typeof u.connect[key]).toBe('number');
      expect(u.connect.p50!).toBeLessThanOrEqual(u.connect.p90!);
      expect(u.connect.p99!).toBeLessThanOrEqual(u.connect.max!);
      expect(typeof u.syn_retransmit_suspected).toBe('number');
      expect(typeof u.steps).toBe('object');
      expect(typeof u.verdict).toBe('string');
      expect(u.failed_connects).toEqual({ refused: expect.any(Number), timed_out: expect.any(Number), other: expect.any(Number), no_live_upstreams: expect.any(Number) });
    }
    const suspect = report.upstreams[0];
    expect(suspect.address).toBe(droppy(SYN));
    expect(suspect.suspected).toBe(true);
    expect(suspect.steps['1']).toBeGreaterThan(0);
    expect(suspect.connect.max).toBeGreaterThan(1); // seconds, not ms
    expect(suspect.syn_retransmit_suspected).toBe(Object.values(suspect.steps).reduce((a, b) => a + b, 0));
    expect(suspect.signature.schedule).toBe('linear');
    expect(suspect.verdict).toContain(suspect.address);
    expect(report.upstreams.slice(1).every((u) => !u.suspected && u.syn_retransmit_suspected === 0 && u.verdict.includes('no signature found'))).toBe(true);
  });

  it('reads - (stdin), also gzip-compressed', async () => {
    const plain = await run(['-', '--json'], { stdin: createReadStream(SYN) });
    const gz = await run(['-', '--json'], { stdin: Readable.from([gzipSync(readFileSync(SYN))]) });
    const a = JSON.parse(plain.stdout) as JsonReport;
    const b = JSON.parse(gz.stdout) as JsonReport;
    expect(a.suspected_upstreams).toBe(1);
    expect({ ...a, elapsed_seconds: 0 }).toEqual({ ...b, elapsed_seconds: 0 });
  });

  it('reads a .gz file given by name', async () => {
    const path = join(dir, 'syn.json.log.gz');
    writeFileSync(path, gzipSync(readFileSync(SYN)));
    const report = JSON.parse((await run([path, '--json'])).stdout) as JsonReport;
    expect(report.lines).toBe(300);
    expect(report.suspected_upstreams).toBe(1);
  });

  it('a missing file: one sentence on stderr, exit code 2, nothing on stdout', async () => {
    const missing = join(dir, 'missing.log');
    const r = await run([SYN, missing]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`nginx-otel-sidecar analyze: Cannot read ${missing}: no such file.\n`);
  });

  it('text formats: --nginx-conf with --log-format-name, or --log-format, read the recorded text log', async () => {
    const log = join(FIXTURES, 'text-combined.log');
    const conf = join(FIXTURES, 'text-formats.conf');
    const viaConf = JSON.parse((await run([log, '--json', '--nginx-conf', conf, '--log-format-name', 'otel_text'])).stdout) as JsonReport;
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    expect(viaConf.lines).toBe(lines.length);
    expect(viaConf.malformed).toBe(0);
    const attempts = lines.map((l) => /ua="([^"]*)"/.exec(l)![1]).filter((ua) => ua !== '-').flatMap((ua) => ua.split(/, | : /));
    expect(viaConf.upstreams.reduce((n, u) => n + u.attempts, 0)).toBe(attempts.length);
    const format = /log_format otel_text '([^']*)'/.exec(readFileSync(conf, 'utf8'))![1];
    const viaFormat = JSON.parse((await run([log, '--json', '--log-format', format])).stdout) as JsonReport;
    expect({ ...viaFormat, elapsed_seconds: 0 }).toEqual({ ...viaConf, elapsed_seconds: 0 });
    // The default (JSON) parser counts every text line as malformed, and says so.
    const asJson = await run([log]);
    expect(asJson.exitCode).toBe(0);
    expect(asJson.stdout).toContain(`${lines.length} lines (${lines.length} malformed)`);
  });

  it('contradictory format options: one sentence, exit code 2', async () => {
    const r = await run([SYN, '--log-format', '$msec', '--log-format-name', 'combined']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^nginx-otel-sidecar analyze: --log-format cannot be combined with [^\n]*\.\n$/);
  });

  it('--step-tolerance: validated, and a narrower window counts fewer connects at the 1 s step', async () => {
    expect((await run([SYN, '--step-tolerance', '2'])).exitCode).not.toBe(0);
    expect((await run([SYN, '--step-tolerance', 'abc'])).exitCode).not.toBe(0);
    const wide = JSON.parse((await run([SYN, '--json'])).stdout) as JsonReport;
    const narrow = JSON.parse((await run([SYN, '--json', '--step-tolerance', '0.012'])).stdout) as JsonReport;
    expect(narrow.step_tolerance).toBe(0.012);
    expect(narrow.upstreams[0].steps['1']).toBeLessThan(wide.upstreams[0].steps['1']);
  });

  it('progress: on stderr only when it is a terminal or with --progress, cleared at the end on a terminal', async () => {
    expect((await run([STEADY])).stderr).toBe('');
    const forced = await run([STEADY, '--progress']);
    expect(forced.stderr).toMatch(/^analyze .*steady-slow\.json\.log: \d+ % [\d,]+ lines, \d+ MiB read/);
    const tty = await run([STEADY], { tty: true });
    expect(tty.stderr.startsWith('\r\x1b[K')).toBe(true);
    expect(tty.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect((await run([STEADY, '--no-progress'], { tty: true })).stderr).toBe('');
  });
});
