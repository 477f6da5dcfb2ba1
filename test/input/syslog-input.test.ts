import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSyslogAddress, stripSyslogHeader, SyslogInput } from '../../src/input/syslog-input.js';
import { httpRequest } from '../support/http-client.ts';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import { runInput, sleep, tempDir, waitFor, type Running } from './tail-helpers.ts';

let nginx: NginxInstance | undefined;
let running: Running | undefined;
let removeDir: (() => void) | undefined;
afterEach(async () => {
  await nginx?.stop();
  nginx = undefined;
  await running?.stop();
  running = undefined;
  removeDir?.();
  removeDir = undefined;
});

const hasUnixDgram = (() => {
  try {
    createRequire(import.meta.url).resolve('unix-dgram');
    return true;
  } catch {
    return false;
  }
})();

describe('syslog header', () => {
  it('strips what nginx puts before the message', () => {
    expect(stripSyslogHeader('<190>Nov 26 16:00:00 web-1 nginx: {"a": "b: c"}')).toBe('{"a": "b: c"}');
    expect(stripSyslogHeader('<190>Nov  6 06:00:00 nginx: 1.2.3.4 - - [x] "GET / HTTP/1.1" 200')).toBe('1.2.3.4 - - [x] "GET / HTTP/1.1" 200');
    expect(stripSyslogHeader('<14>Nov 26 16:00:00 host app: ')).toBe('');
    expect(stripSyslogHeader('plain line: no header')).toBeUndefined();
    expect(stripSyslogHeader('<190>2024-11-26T16:00:00Z host nginx: x')).toBeUndefined();
    expect(stripSyslogHeader('<190>Nov 26 16:00:00 a b c: x')).toBeUndefined();
  });

  it('reads nginx server= values', () => {
    expect(parseSyslogAddress('127.0.0.1:5140')).toEqual({ kind: 'udp', host: '127.0.0.1', port: 5140 });
    expect(parseSyslogAddress('syslog:server=[::1]:12,tag=x')).toEqual({ kind: 'udp', host: '::1', port: 12 });
    expect(parseSyslogAddress('localhost')).toEqual({ kind: 'udp', host: 'localhost', port: 514 });
    expect(parseSyslogAddress('syslog:server=unix:/run/x.sock')).toEqual({ kind: 'unix', path: '/run/x.sock' });
    expect(() => parseSyslogAddress('syslog:tag=x')).toThrow();
  });
});

const LOG_FORMAT = `log_format seq '$connection $connection_requests $request_uri';`;

async function nginxSendingTo(server: string, alsoFile: boolean): Promise<NginxInstance> {
  return startNginx({
    workerProcesses: 2,
    includeOtelSnippets: false,
    http: (ctx) => `
    ${LOG_FORMAT}
    server {
        listen ${ctx.listen()};
        access_log syslog:server=${server},tag=nginx seq;
        ${alsoFile ? `access_log ${ctx.accessLog} seq;` : ''}
        location / { return 200 "ok\\n"; }
    }`,
  });
}

async function sendRequests(port: number, count: number, path = (i: number) => `/r/${i}`): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    for (let i = 0; i < count; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, count - i) }, (_, k) => httpRequest({ port, path: path(i + k), agent })));
    }
  } finally {
    agent.destroy();
  }
}

function wrk(url: string, seconds: number): Promise<void> {
  return new Promise((ok, fail) => {
    const p = spawn('wrk', ['-t1', '-c8', `-d${seconds}s`, url], { stdio: 'ignore' });
    p.once('error', fail);
    p.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`wrk exited ${code}`))));
  });
}

describe('SyslogInput with a real nginx', () => {
  it('receives every access log line over UDP, header stripped', async () => {
    const input = new SyslogInput({ listen: '127.0.0.1:0' });
    running = runInput(input);
    await input.listening();
    nginx = await nginxSendingTo(`127.0.0.1:${input.port()}`, false);
    await sendRequests(nginx.port, 2000);
    await waitFor('2000 lines', () => running!.lines.length >= 2000, 10_000);
    await sleep(100);
    expect(input.counters.datagramsReceived).toBe(2000);
    expect(input.counters.datagramsUnparsed).toBe(0);
    const uris = new Set(running.lines.map((l) => l.split(' ')[2]));
    expect(uris.size).toBe(2000);
    expect(uris.has('/r/0') && uris.has('/r/1999')).toBe(true);
    expect(running.lines.every((l) => /^\d+ \d+ \/r\/\d+$/.test(l))).toBe(true);
  });

  it('under wrk load: counts what arrived against the same lines in a file (UDP may drop)', async () => {
    const input = new SyslogInput({ listen: '127.0.0.1:0' });
    running = runInput(input);
    await input.listening();
    nginx = await nginxSendingTo(`127.0.0.1:${input.port()}`, true);
    await wrk(nginx.url('/'), 2);
    await sleep(500);
    const inFile = nginx.readAccessLog().length;
    const got = running.lines.length;
    console.log(`syslog over UDP under wrk: ${got} of ${inFile} lines arrived (${(((inFile - got) / inFile) * 100).toFixed(2)} % dropped by the kernel), ` +
      `queue drops ${input.counters.linesDropped}`);
    expect(inFile).toBeGreaterThan(1000);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(inFile);
    expect(input.counters.datagramsReceived).toBe(got);
  });

  it('a long line (4 KiB) arrives whole, as in the file', async () => {
    const input = new SyslogInput({ listen: '127.0.0.1:0' });
    running = runInput(input);
    await input.listening();
    nginx = await nginxSendingTo(`127.0.0.1:${input.port()}`, true);
    const long = `/long/${'a'.repeat(4000)}`;
    await httpRequest({ port: nginx.port, path: long });
    await waitFor('1 line', () => running!.lines.length === 1);
    const fileLine = (await nginx.waitForLines(1))[0];
    expect(fileLine.endsWith(long)).toBe(true);
    expect(running.lines[0]).toBe(fileLine);
  });

  it.skipIf(!hasUnixDgram)('over a unix datagram socket (optional unix-dgram): every line arrives or nginx reports it unsent', async () => {
    const t = tempDir('nos-syslog-');
    removeDir = t.remove;
    const sock = t.path('syslog.sock');
    const input = new SyslogInput({ listen: `unix:${sock}` });
    running = runInput(input);
    await input.listening();
    nginx = await nginxSendingTo(`unix:${sock}`, false);
    await sendRequests(nginx.port, 2000);
    // A unix datagram socket queues at most net.unix.max_dgram_qlen datagrams (10 by
    // default); nginx's non-blocking send() fails beyond that and nginx logs it.
    const unsent = (): number => (nginx!.errorLog().match(/send\(\) to syslog failed/g) ?? []).length;
    await waitFor('2000 lines arrived or unsent', () => running!.lines.length + unsent() >= 2000, 10_000);
    await sleep(100);
    const qlen = (() => { try { return readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8').trim(); } catch { return '?'; } })();
    console.log(`syslog over a unix socket (max_dgram_qlen ${qlen}): ${running.lines.length} of 2000 lines arrived, nginx failed to send ${unsent()}`);
    expect(running.lines.length + unsent()).toBe(2000);
    expect(input.counters.datagramsReceived).toBe(running.lines.length);
    expect(running.lines.length).toBeGreaterThan(0);
    expect(new Set(running.lines.map((l) => l.split(' ')[2])).size).toBe(running.lines.length);
  });

  it.skipIf(hasUnixDgram)('without unix-dgram, a unix: address fails with a clear message', async () => {
    const input = new SyslogInput({ listen: 'unix:/tmp/nos-no-such.sock' });
    await expect(input.run(async () => {}, new AbortController().signal)).rejects.toThrow(/unix-dgram/);
  });
});
