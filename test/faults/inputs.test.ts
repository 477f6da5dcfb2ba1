// Issue #3 §4/§6: the run command's other inputs, end to end. Syslog from a real nginx
// (`access_log syslog:server=127.0.0.1:<port>`), and --file with a glob, whose files each
// keep their own checkpoint.
import { createRequire } from 'node:module';
import { appendFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startNginx } from '../support/nginx.ts';
import { runCli } from '../support/sidecar.ts';
import { startSpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { otelSeqLogFormat, parseSeqLine, scrape, sleep, startRun, waitFor, waitHealthy, wrk } from './helpers.ts';

const stopLater = stopAfterEach();

const hasUnixDgram = (() => {
  try {
    createRequire(import.meta.url).resolve('unix-dgram');
    return true;
  } catch {
    return false;
  }
})();

let nextId = 1;
function line(): { id: string; text: string } {
  const n = nextId++;
  const id = `91ab${n.toString(16).padStart(28, '0')}`;
  return {
    id,
    text: `{"msec":"${(1_790_000_000 + n / 1000).toFixed(3)}","request_time":"0.001","request_id":"${id}","request_method":"GET","scheme":"http",` +
      `"host":"h","server_port":"80","request_uri":"/${n}","server_protocol":"HTTP/1.1","status":"200","upstream_addr":""}\n`,
  };
}

function lines(count: number): { ids: string[]; text: string } {
  const out = Array.from({ length: count }, line);
  return { ids: out.map((l) => l.id), text: out.map((l) => l.text).join('') };
}

describe('run: syslog and glob inputs', () => {
  it('--syslog udp://: what a real nginx sends arrives, as many requests as it wrote to its file', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const run = await startRun(['--syslog', 'udp://127.0.0.1:0', '--endpoint', sink.url]);
    const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await sidecar.waitForStderr(/listening for syslog on udp 127\.0\.0\.1:\d+/);
    const port = Number(/listening for syslog on udp 127\.0\.0\.1:(\d+)/.exec(sidecar.stderr())![1]);
    await waitHealthy(run.ops);
    const nginx = stopLater(await startNginx({
      http: (ctx) => `
      ${otelSeqLogFormat()}
      server {
          listen ${ctx.listen()};
          access_log syslog:server=127.0.0.1:${port},tag=nginx otel_seq;
          access_log ${ctx.accessLog} otel_seq;
          location / { return 200 "ok\\n"; }
      }`,
    }), (n) => n.stop());
    await wrk(nginx.url('/'), 3, { connections: 1, paced: true }).done;
    const logged = nginx.readAccessLog().map(parseSeqLine);
    await waitFor(`${logged.length} requests`, () => logged.every((r) => sink.serverCount.has(r.requestId)), 30_000);
    await sleep(500);
    const m = await scrape(run.ops);
    expect(await sidecar.stop()).toBe(0);
    let duplicates = 0;
    for (const n of sink.serverCount.values()) if (n > 1) duplicates++;
    console.log(`syslog: ${logged.length} requests logged by nginx to its file and over UDP, ${sink.serverCount.size} arrived, ${duplicates} twice; ` +
      `datagrams ${m.get('nginx_otel_sidecar_syslog_datagrams_received_total')}`);
    expect(logged.length).toBeGreaterThan(500);
    expect(sink.serverCount.size).toBe(logged.length);
    expect(duplicates).toBe(0);
    expect(m.get('nginx_otel_sidecar_syslog_datagrams_received_total')).toBe(logged.length);
    expect(m.get('nginx_otel_sidecar_syslog_datagrams_unparsed_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_lines_dropped_total')).toBe(0);
    expect(m.get('nginx_otel_sidecar_lines_malformed_total')).toBe(0);
  });

  it.skipIf(hasUnixDgram)('--syslog unix: without the optional unix-dgram package: exits 1 and says what to do', async () => {
    const dir = stopLater(tempDir('nos-unix-'), (d) => d.remove());
    const r = await runCli(['run', '--syslog', `unix:${dir.path('s.sock')}`, '--endpoint', 'http://127.0.0.1:9/v1/traces', '--status-interval', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/syslog on a unix socket needs the optional native package unix-dgram .* access_log syslog:server=127\.0\.0\.1:5140/);
  });

  it('--file with a glob: every matching file followed (one appearing later too), each with its own checkpoint', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-glob-'), (d) => d.remove());
    const a = lines(300);
    const b = lines(200);
    writeFileSync(dir.path('a.log'), a.text);
    writeFileSync(dir.path('b.log'), b.text);
    writeFileSync(dir.path('ignored.txt'), lines(5).text);
    const checkpoint = dir.path('checkpoint.json');
    const args = ['--file', `${dir.dir}/*.log`, '--checkpoint', checkpoint, '--start-at', 'beginning', '--endpoint', sink.url];
    let run = await startRun(args);
    let sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitHealthy(run.ops);
    const c = lines(100);
    writeFileSync(dir.path('c.log'), c.text); // found at the next rescan (5 s), read from its start
    const a2 = lines(150);
    appendFileSync(dir.path('a.log'), a2.text);
    const first = [...a.ids, ...b.ids, ...c.ids, ...a2.ids];
    await waitFor(`${first.length} requests`, () => first.every((id) => sink.serverCount.has(id)), 20_000);
    expect(await sidecar.stop()).toBe(0);
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { files: { path: string; offset: number }[] };
    const offsets = Object.fromEntries(saved.files.map((f) => [f.path.slice(dir.dir.length + 1), f.offset]));
    expect(offsets).toEqual({ 'a.log': statSync(dir.path('a.log')).size, 'b.log': statSync(dir.path('b.log')).size, 'c.log': statSync(dir.path('c.log')).size });

    // Restarted: only what was written meanwhile arrives.
    const b2 = lines(50);
    appendFileSync(dir.path('b.log'), b2.text);
    run = await startRun(args);
    sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor(`${b2.ids.length} more`, () => b2.ids.every((id) => sink.serverCount.has(id)), 20_000);
    await sleep(500);
    expect(await sidecar.stop()).toBe(0);
    const all = [...first, ...b2.ids];
    expect(sink.serverCount.size).toBe(all.length);
    expect([...sink.serverCount.values()].every((n) => n === 1)).toBe(true);
  });

  it('a path given twice, and a symbolic link a glob matches: each file followed once', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-paths-'), (d) => d.remove());
    const a = lines(200);
    const b = lines(100);
    mkdirSync(dir.path('real'));
    mkdirSync(dir.path('logs'));
    writeFileSync(dir.path('a.log'), a.text);
    writeFileSync(dir.path('real/site.log'), b.text);
    symlinkSync(dir.path('real/site.log'), dir.path('logs/site.log'));
    const twice = await startRun(['--file', dir.path('a.log'), '--file', `${dir.dir}/./a.log`, '--start-at', 'beginning', '--endpoint', sink.url]);
    stopLater(twice.sidecar, (s) => s.stop('SIGKILL'));
    const glob = await startRun(['--file', `${dir.dir}/logs/*.log`, '--start-at', 'beginning', '--endpoint', sink.url]);
    stopLater(glob.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor('both files', () => [...a.ids, ...b.ids].every((id) => sink.serverCount.has(id)), 20_000);
    await sleep(500);
    expect(await twice.sidecar.stop()).toBe(0);
    expect(await glob.sidecar.stop()).toBe(0);
    expect(twice.sidecar.stderr()).toMatch(/stopped: lines 200 /);
    expect(glob.sidecar.stderr()).toMatch(/stopped: lines 100 /);
    expect(sink.serverCount.size).toBe(300);
    expect([...sink.serverCount.values()].every((n) => n === 1)).toBe(true);
  });
});
