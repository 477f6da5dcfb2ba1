// Shared by the fault tests: real processes (nginx, wrk, the sidecar CLI), real files.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from '../support/cleanup.ts';
import { OTEL_LOG_FORMAT_CONF } from '../support/nginx.ts';
import { CLI, startSidecar, type Sidecar } from '../support/sidecar.ts';

const PACED_LUA = fileURLToPath(new URL('./paced.lua', import.meta.url));

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * The recommended otel_json format plus `$pid`, `$connection` and `$connection_requests`:
 * requests on one connection are numbered 1..n and logged in order, so a number missing
 * below the highest one seen is a line in no file (the copytruncate gap). The sidecar reads
 * the extra keys as unknown variables and ignores them.
 */
export function otelSeqLogFormat(): string {
  const conf = readFileSync(OTEL_LOG_FORMAT_CONF, 'utf8').replace(/^#.*$/gm, '');
  const seq = conf
    .replace('log_format otel_json', 'log_format otel_seq')
    .replace('"$http_x_amzn_trace_id"}\'', '"$http_x_amzn_trace_id","pid":"$pid","connection":"$connection","connection_requests":"$connection_requests"}\'');
  if (!seq.includes('connection_requests')) throw new Error('could not extend otel_json (format changed?)');
  return seq;
}

export interface LoggedRequest {
  requestId: string;
  /** `${pid}:${connection}` */
  connection: string;
  seq: number;
}

export function parseSeqLine(line: string): LoggedRequest {
  const o = JSON.parse(line) as Record<string, string>;
  return { requestId: o.request_id, connection: `${o.pid}:${o.connection}`, seq: Number(o.connection_requests) };
}

/**
 * Complete lines of a file. An unterminated last line is left out: a copy made while nginx
 * was writing (copytruncate) can end in the middle of a line, whose rest went to the
 * original and was truncated away; it is in the copy-to-truncate gap.
 */
export function linesOf(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop(); // '' after the last newline, or a partial line
  return lines;
}

/** Lines of every file in `dir` whose name starts with `prefix` (the live log and its rotated copies). */
export function unionOfLogs(dir: string, prefix = 'access.log'): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(prefix)).sort().flatMap((n) => linesOf(join(dir, n)));
}

/** Requests missing from `requests`: per connection, the numbers below the highest seen that are absent. */
export function holes(requests: Iterable<{ connection: string; seq: number }>): number {
  const per = new Map<string, Set<number>>();
  for (const r of requests) {
    let s = per.get(r.connection);
    if (s === undefined) per.set(r.connection, (s = new Set()));
    s.add(r.seq);
  }
  let missing = 0;
  for (const s of per.values()) missing += Math.max(...s) - s.size;
  return missing;
}

/**
 * wrk for `seconds`; resolves with its report. With `paced`, each connection waits 1 ms
 * between requests (wrk's Lua `delay()`), about 450-500 requests/s per connection here:
 * 44 connections make ≈20k requests/s instead of everything the machine can do.
 */
export function wrk(url: string, seconds: number, options: { threads?: number; connections?: number; paced?: boolean } = {}): { done: Promise<string>; child: ChildProcess } {
  const args = [`-t${options.threads ?? 1}`, `-c${options.connections ?? 8}`, `-d${seconds}s`];
  if (options.paced === true) args.push('-s', PACED_LUA);
  const child = spawn('wrk', [...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  const cleanup = registerCleanup(`wrk ${child.pid}`, () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<string>((ok, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => {
      cleanup.cancel();
      if (code === 0) ok(out);
      else fail(new Error(`wrk exited ${code}: ${out}`));
    });
  });
  return { done, child };
}

/**
 * Steady load from this process: `rate` requests per second over a few keep-alive
 * connections, until stopped. Returns the number of responses.
 */
export function steadyLoad(port: number, rate: number, path = '/'): { stop(): Promise<number>; sent(): number } {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let sent = 0;
  let done = 0;
  let stopped = false;
  const started = performance.now();
  const inflight = new Set<Promise<void>>();
  const one = (): Promise<void> => new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => { done++; resolve(); });
    });
    req.on('error', () => resolve());
    req.end();
  });
  const loop = (async () => {
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (sent < due && inflight.size < 64) {
        sent++;
        const p = one().then(() => { inflight.delete(p); });
        inflight.add(p);
      }
      await sleep(5);
    }
    await Promise.all(inflight);
  })();
  return {
    sent: () => sent,
    async stop() {
      stopped = true;
      await loop;
      agent.destroy();
      return done;
    },
  };
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export function httpGet(url: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((ok, fail) => {
    const req = request(url, { method, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', fail);
    req.end();
  });
}

/** /metrics as name{labels} → value. */
export async function scrape(opsUrl: string): Promise<Map<string, number>> {
  const { status, body } = await httpGet(`${opsUrl}/metrics`);
  if (status !== 200) throw new Error(`/metrics answered ${status}: ${body}`);
  return parseExposition(body);
}

export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    out.set(m[1], Number(m[2].replace('+Inf', 'Infinity')));
  }
  return out;
}

/** A sidecar `run` with the ops server on a free port; resolves once it serves. */
export async function startRun(args: string[], env: Record<string, string> = {}): Promise<{ sidecar: Sidecar; ops: string }> {
  const sidecar = startSidecar(['run', '--listen', '127.0.0.1:0', '--status-interval', '0', ...args], env);
  await sidecar.waitForStderr(/serving http:\/\/[^/]+\/metrics/, 20_000);
  const ops = /serving (http:\/\/[^/\s]+)\/metrics/.exec(sidecar.stderr())![1];
  return { sidecar, ops };
}

export async function waitHealthy(ops: string, timeoutMs = 20_000): Promise<void> {
  let last = '';
  await waitFor(`/healthz 200 (last: ${last})`, async () => {
    const r = await httpGet(`${ops}/healthz`).catch((e: Error) => ({ status: 0, body: e.message }));
    last = `${r.status} ${r.body.trim()}`;
    return r.status === 200;
  }, timeoutMs);
}

/** Resident set size of a process (all its threads), from /proc/<pid>/status, in MiB. */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Runs the CLI with `input` piped to its standard input. */
export function runWithStdin(args: string[], input: Buffer | string, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const cleanup = registerCleanup(`sidecar ${child.pid}`, () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stdin!.on('error', () => {});
  child.stdin!.end(input);
  return new Promise((ok) => child.on('exit', (code) => {
    cleanup.cancel();
    ok({ code, stderr, stdout });
  }));
}

/** Counts per value; returns values seen more than once with their counts. */
export function countBy<T>(items: Iterable<T>): Map<T, number> {
  const m = new Map<T, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}
