// Real nginx under wrk load, its access log rotated while FileTail follows it.
import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, renameSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileTail } from '../../src/input/file-tail.js';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { duplicates, runInput, sleep, waitFor } from './tail-helpers.ts';

let nginx: NginxInstance | undefined;
afterEach(async () => {
  await nginx?.stop();
  nginx = undefined;
});

/** Every line unique: worker pid, connection serial, request number on it, request id. */
const LOG_FORMAT = `log_format seq '$pid $connection $connection_requests $request_id $msec';`;

async function startLoggingNginx(): Promise<NginxInstance> {
  return startNginx({
    workerProcesses: 2,
    includeOtelSnippets: false,
    http: (ctx) => `
    ${LOG_FORMAT}
    server {
        listen ${ctx.listen()};
        access_log ${ctx.accessLog} seq;
        location / { return 200 "ok\\n"; }
    }`,
  });
}

function wrk(url: string, seconds: number): Promise<string> {
  return new Promise((ok, fail) => {
    const p = spawn('wrk', ['-t2', '-c32', `-d${seconds}s`, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', fail);
    p.once('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`wrk exited ${code}: ${out}`))));
  });
}

function linesOf(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Lines of the access log and of every rotated copy of it. */
function unionOfLogs(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith('access.log'))
    .flatMap((n) => linesOf(join(dir, n)));
}

/**
 * Requests nginx logged that are in none of `lines`: per connection, requests are numbered
 * 1..n and logged in order, so a number missing below the highest one seen is a lost line.
 */
function holes(lines: Iterable<string>): number {
  const perConnection = new Map<string, { max: number; count: number }>();
  for (const l of lines) {
    const [, connection, request] = l.split(' ');
    const e = perConnection.get(connection) ?? { max: 0, count: 0 };
    e.max = Math.max(e.max, Number(request));
    e.count++;
    perConnection.set(connection, e);
  }
  let missing = 0;
  for (const e of perConnection.values()) missing += e.max - e.count;
  return missing;
}

describe('FileTail on a real nginx under load', () => {
  it('rename + late reopen, several times: reads exactly the union of all log files', async () => {
    nginx = await startLoggingNginx();
    const tail = new FileTail({ path: nginx.accessLog, startAt: 'beginning', pollIntervalMs: 100, rotateGraceMs: 1000 });
    const r = runInput(tail, { ack: true });
    try {
      const load = wrk(nginx.url('/'), 6);
      for (let k = 1; k <= 4; k++) {
        await sleep(700);
        renameSync(nginx.accessLog, `${nginx.accessLog}.${k}`);
        await sleep(200 + 100 * k); // nginx keeps writing to the renamed file until it reopens
        await nginx.reopen();
      }
      const report = await load;
      await sleep(500); // requests still in flight when wrk stopped are logged after it exits
      let union = unionOfLogs(nginx.dir);
      await waitFor(`${union.length} lines read (have ${r.lines.length})`, () => r.lines.length >= union.length, 20_000);
      await sleep(300);
      union = unionOfLogs(nginx.dir);
      const read = new Set(r.lines);
      const unread = union.filter((l) => !read.has(l));
      const inUnion = new Set(union);
      const extra = r.lines.filter((l) => !inUnion.has(l));
      console.log(`rename rotation: ${union.length} lines in ${readdirSync(nginx.dir).filter((n) => n.startsWith('access.log')).length} files, ` +
        `${r.lines.length} read, rotations ${tail.counters.rotations}; wrk: ${/Requests\/sec:\s+\S+/.exec(report)?.[0]}`);
      expect(union.length).toBeGreaterThan(10_000);
      expect(duplicates(r.lines)).toEqual([]);
      expect(unread).toEqual([]);
      expect(extra).toEqual([]);
      expect(holes(union)).toBe(0);
      expect(tail.counters.rotations).toBe(4);
      expect(tail.counters.truncations).toBe(0);
    } finally {
      await r.stop();
    }
  });

  it('copytruncate, several times: reads every line of the copies and the log; only the copy-to-truncate gap is missing', async () => {
    nginx = await startLoggingNginx();
    const tail = new FileTail({ path: nginx.accessLog, startAt: 'beginning', pollIntervalMs: 100, rotateGraceMs: 1000 });
    const r = runInput(tail, { ack: true });
    try {
      const load = wrk(nginx.url('/'), 5);
      for (let k = 1; k <= 4; k++) {
        await sleep(900);
        // what logrotate's copytruncate does: copy, then truncate the original in place
        copyFileSync(nginx.accessLog, `${nginx.accessLog}.${k}`);
        truncateSync(nginx.accessLog, 0);
      }
      await load;
      await sleep(500); // requests still in flight when wrk stopped are logged after it exits
      let union = unionOfLogs(nginx.dir);
      await waitFor(`all ${union.length} lines read`, () => r.lines.length >= union.length && union.every((l) => readSet(r.lines).has(l)), 20_000);
      await sleep(300);
      union = unionOfLogs(nginx.dir);
      const inUnion = new Set(union);
      const read = new Set(r.lines);
      const unread = union.filter((l) => !read.has(l));
      // lines written between a copy and its truncate are in no file; we may have read some
      const caught = r.lines.filter((l) => !inUnion.has(l));
      const gap = holes([...union, ...caught]);
      console.log(`copytruncate: ${union.length} lines in the copies and the log, ${r.lines.length} read ` +
        `(${caught.length} of them in no file: read before the truncate), ${gap} lines lost in the copy-to-truncate gap, ` +
        `truncations ${tail.counters.truncations}`);
      expect(union.length).toBeGreaterThan(10_000);
      expect(duplicates(r.lines)).toEqual([]);
      expect(unread).toEqual([]);
      expect(caught.every((l) => /^\d+ \d+ \d+ [0-9a-f]{32} \d+\.\d{3}$/.test(l))).toBe(true);
      expect(tail.counters.truncations).toBe(4);
    } finally {
      await r.stop();
    }
  });
});

let cachedFor: string[] | undefined;
let cachedLen = -1;
let cachedSet = new Set<string>();
function readSet(lines: string[]): Set<string> {
  if (cachedFor !== lines || cachedLen !== lines.length) {
    cachedFor = lines;
    cachedLen = lines.length;
    cachedSet = new Set(lines);
  }
  return cachedSet;
}
