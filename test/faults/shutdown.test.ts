// Issue #3 §4: SIGTERM flushes and checkpoints within --shutdown-timeout and the process
// exits: 0 when everything read was delivered, 1 (and a checkpoint before what was not)
// when the collector did not take it in time. Whatever was not delivered is read again
// after a restart.
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registerCleanup } from '../support/cleanup.ts';
import { CLI } from '../support/sidecar.ts';
import { startSpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { sleep, startRun, waitFor, waitHealthy } from './helpers.ts';

const stopLater = stopAfterEach();

let nextId = 1;
function lines(count: number): { ids: string[]; text: string } {
  const ids: string[] = [];
  let text = '';
  for (let i = 0; i < count; i++) {
    const n = nextId++;
    const id = `5d0e${n.toString(16).padStart(28, '0')}`;
    ids.push(id);
    text += `{"msec":"${(1_790_000_000 + n / 1000).toFixed(3)}","request_time":"0.001","request_id":"${id}","request_method":"GET","scheme":"http",` +
      `"host":"h","server_port":"80","request_uri":"/${n}","server_protocol":"HTTP/1.1","status":"200","upstream_addr":""}\n`;
  }
  return { ids, text };
}

function checkpointOffset(path: string): number {
  return (JSON.parse(readFileSync(path, 'utf8')) as { files: { offset: number }[] }).files[0].offset;
}

describe('SIGTERM', () => {
  it('in the middle of a backlog: stops reading, delivers what was read, exits 0; a restart reads the rest, nothing twice', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-term-'), (d) => d.remove());
    const log = dir.path('access.log');
    const checkpoint = dir.path('checkpoint.json');
    const all = lines(150_000);
    writeFileSync(log, '');
    const args = ['--file', log, '--checkpoint', checkpoint, '--start-at', 'beginning', '--endpoint', sink.url];
    let run = await startRun(args);
    let sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitHealthy(run.ops);
    writeFileSync(log, all.text);
    await waitFor('some delivered', () => sink.serverCount.size > 5000, 20_000);
    const signalled = Date.now();
    expect(await sidecar.stop('SIGTERM')).toBe(0);
    const took = Date.now() - signalled;
    const offset = checkpointOffset(checkpoint);
    const firstRun = sink.serverCount.size;
    expect(offset).toBeLessThan(statSync(log).size); // it did stop reading early
    // what the checkpoint covers is exactly what arrived
    expect(Buffer.from(all.text).subarray(0, offset).toString().split('\n').length - 1).toBe(firstRun);
    expect(sidecar.stderr()).toMatch(/SIGTERM: stopping reads, delivering what is queued/);

    run = await startRun(args);
    sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor(`all ${all.ids.length}`, () => sink.serverCount.size >= all.ids.length, 60_000);
    await sleep(500);
    expect(await sidecar.stop()).toBe(0);
    expect(all.ids.filter((id) => sink.serverCount.get(id) !== 1)).toEqual([]);
    console.log(`SIGTERM mid-backlog: exited 0 after ${took} ms with ${firstRun} of ${all.ids.length} delivered and checkpointed; the restart sent the other ${all.ids.length - firstRun}, none twice`);
  });

  it('with the collector away: exits 1 within --shutdown-timeout, checkpoint before the undelivered lines; they arrive after a restart', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-term-'), (d) => d.remove());
    const log = dir.path('access.log');
    const checkpoint = dir.path('checkpoint.json');
    const before = lines(100);
    writeFileSync(log, before.text);
    const args = ['--file', log, '--checkpoint', checkpoint, '--start-at', 'beginning', '--endpoint', sink.url, '--shutdown-timeout', '2'];
    let run = await startRun(args);
    let sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor('first lines', () => before.ids.every((id) => sink.serverCount.has(id)), 10_000);
    await sink.down();
    // more than the queue holds, so reading is blocked on the full queue when the signal comes
    const during = lines(40_000);
    writeFileSync(log, before.text + during.text);
    await waitFor('queue full', async () => {
      const m = await fetch(`${run.ops}/metrics`).then((r) => r.text());
      return Number(/^nginx_otel_sidecar_spans_queued (\d+)/m.exec(m)?.[1]) >= 16_384;
    }, 20_000, 200);
    const signalled = Date.now();
    expect(await sidecar.stop('SIGTERM')).toBe(1);
    const took = Date.now() - signalled;
    expect(took).toBeLessThan(2000 + 3000);
    expect(sidecar.stderr()).toMatch(/spans undelivered; the checkpoint points before them|spans were not delivered before the shutdown deadline/);
    expect(checkpointOffset(checkpoint)).toBe(Buffer.byteLength(before.text));

    await sink.up();
    run = await startRun(args);
    sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor(`all ${during.ids.length}`, () => during.ids.every((id) => sink.serverCount.has(id)), 60_000);
    expect(await sidecar.stop()).toBe(0);
    expect([...sink.serverCount.values()].every((n) => n === 1)).toBe(true);
    console.log(`SIGTERM, collector away: exited 1 after ${took} ms (--shutdown-timeout 2), checkpoint at the last delivered line; all ${during.ids.length} arrived after the restart`);
  });

  it('with the collector failing and the queue not full: exits 1 at --shutdown-timeout, not after the exporter\'s own retries', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-term-'), (d) => d.remove());
    const log = dir.path('access.log');
    writeFileSync(log, lines(300).text);
    sink.respondWith(503);
    const run = await startRun(['--file', log, '--start-at', 'beginning', '--endpoint', sink.url, '--shutdown-timeout', '2']);
    const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitFor('an export refused', () => sink.refused > 0, 10_000);
    const signalled = Date.now();
    expect(await sidecar.stop('SIGTERM')).toBe(1);
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(2000 + 1500); // it was 5 s: the exporter retried its requests first
  });

  it('reading standard input that stays open: SIGTERM ends it, exit 0', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const child = spawn(process.execPath, [CLI, 'run', '--file', '-', '--endpoint', sink.url, '--sample-ratio', '1', '--status-interval', '0'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const cleanup = registerCleanup(`sidecar ${child.pid}`, () => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const some = lines(1000);
    child.stdin!.write(some.text);
    await waitFor('delivered', () => some.ids.every((id) => sink.serverCount.has(id)), 10_000);
    const signalled = Date.now();
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    cleanup.cancel();
    expect(Date.now() - signalled).toBeLessThan(2000);
    expect(stderr).toMatch(/stopped: lines 1000 /);
  });
});
