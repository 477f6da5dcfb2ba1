// Issue #3 §6: `kill -9` the sidecar 5× while nginx is writing, restart it with the same
// --checkpoint each time. Nothing is lost; what is sent twice is what had been delivered
// after the last checkpoint write before a kill, and the second copy is byte-identical.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startNginx } from '../support/nginx.ts';
import { startSpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { otelSeqLogFormat, sleep, startRun, waitFor, waitHealthy, wrk } from './helpers.ts';

const KILLS = 5;

const stopLater = stopAfterEach();

interface Kill {
  /** Spans the collector had when the sidecar died. */
  received: number;
  /** The checkpoint on disk then. */
  checkpointOffset: number;
  /** Requests delivered whose line is at or after that offset: they will be read and sent again. */
  unacknowledged: number;
}

describe('kill -9 and restart with the same checkpoint', () => {
  it(`${KILLS} kills mid-stream: nothing lost, duplicates only after the checkpoint, byte-identical`, async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const nginx = stopLater(await startNginx({
      http: (ctx) => `
      ${otelSeqLogFormat()}
      server {
          listen ${ctx.listen()};
          access_log ${ctx.accessLog} otel_seq;
          location / { return 200 "ok\\n"; }
      }`,
    }), (n) => n.stop());
    const state = stopLater(tempDir('nos-kill9-'), (d) => d.remove());
    const checkpoint = state.path('checkpoint.json');
    // In worker threads (run's default is one thread): acknowledgements come back across threads, out of order.
    const args = ['--file', nginx.accessLog, '--checkpoint', checkpoint, '--start-at', 'beginning', '--endpoint', sink.url, '--workers', '2'];
    let run = await startRun(args);
    let sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));

    const loadSeconds = Math.ceil(3 + KILLS * 1.5);
    const load = wrk(nginx.url('/'), loadSeconds, { connections: 4, paced: true });
    const kills: Array<{ received: number; checkpointOffset: number }> = [];
    await sleep(1000);
    for (let k = 0; k < KILLS; k++) {
      const before = sink.spans.length;
      await waitFor('spans flowing', () => sink.spans.length > before + 100, 10_000);
      await sleep(500 + Math.random() * 700);
      sidecar.child.kill('SIGKILL');
      expect(await sidecar.exited).toBe(137);
      const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { files: { offset: number }[] };
      kills.push({ received: sink.spans.length, checkpointOffset: saved.files[0].offset });
      run = await startRun(args);
      sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    }
    const report = await load.done;
    await waitHealthy(run.ops);

    // Every line nginx wrote, with its byte offset.
    const text = readFileSync(nginx.accessLog);
    const offsetOf = new Map<string, number>();
    let offset = 0;
    for (const l of text.toString('utf8').split('\n')) {
      if (l !== '') offsetOf.set((JSON.parse(l) as { request_id: string }).request_id, offset);
      offset += Buffer.byteLength(l) + 1;
    }
    await waitFor(`all ${offsetOf.size} requests delivered`, () => {
      for (const id of offsetOf.keys()) if (!sink.serverCount.has(id)) return false;
      return true;
    }, 60_000, 250);
    await sleep(1000);
    expect(await sidecar.stop()).toBe(0);

    const lost = [...offsetOf.keys()].filter((id) => !sink.serverCount.has(id)).length;
    const extra = [...sink.serverCount.keys()].filter((id) => !offsetOf.has(id)).length;
    // Per kill: the requests the collector had whose lines lie at or after the checkpoint on
    // disk; the restarted sidecar reads them again. Each may arrive once more per such kill.
    const resentBy = kills.map((k) => new Set(sink.spans.slice(0, k.received)
      .filter((s) => offsetOf.get(s.requestId)! >= k.checkpointOffset).map((s) => s.requestId)));
    const perKill: Kill[] = kills.map((k, i) => ({ ...k, unacknowledged: resentBy[i].size }));
    const allowed = (id: string) => 1 + resentBy.filter((set) => set.has(id)).length;
    let duplicates = 0;
    let beyondAllowed = 0;
    let differing = 0;
    const hashes = new Map<string, string>();
    for (const s of sink.spans) {
      const first = hashes.get(s.requestId);
      if (first === undefined) hashes.set(s.requestId, s.hash);
      else if (first !== s.hash) differing++;
    }
    for (const [id, n] of sink.serverCount) {
      if (n > 1) duplicates += n - 1;
      if (n > allowed(id)) beyondAllowed++;
    }
    const lines = offsetOf.size;
    console.log(`kill -9 ×${KILLS}: ${lines} requests logged at ${Math.round(lines / loadSeconds)}/s (wrk ${/Requests\/sec:\s+\S+/.exec(report)?.[0]}); ` +
      `lost ${lost}, duplicates ${duplicates} (${(duplicates / KILLS).toFixed(0)} per kill), not byte-identical ${differing}; ` +
      `per kill [delivered after the checkpoint → resent]: ${perKill.map((k) => k.unacknowledged).join(', ')}`);
    expect(lines).toBeGreaterThan(5_000);
    expect(lost).toBe(0);
    expect(extra).toBe(0);
    expect(differing).toBe(0);
    expect(beyondAllowed).toBe(0);
    expect(duplicates).toBeLessThanOrEqual(perKill.reduce((sum, k) => sum + k.unacknowledged, 0));
  }, 120_000);
});
