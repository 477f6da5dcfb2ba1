// Issue #3 §6: real nginx under wrk load, its access log rotated 10× by rename + reopen and
// 10× by copytruncate while `run --checkpoint` follows it. Every $request_id nginx logged
// arrives at the collector exactly once; for copytruncate, the lines nginx wrote between
// the copy and the truncate (in no file) are counted separately.
import { copyFileSync, renameSync, truncateSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startNginx, type NginxInstance } from '../support/nginx.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { startSpanSink, type SpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { holes, otelSeqLogFormat, parseSeqLine, scrape, sleep, startRun, unionOfLogs, waitFor, waitHealthy, wrk } from './helpers.ts';

const ROTATIONS = 10;
/** wrk runs this long; a rotation every LOAD_SECONDS / (ROTATIONS + 1) s. */
const LOAD_SECONDS = 5;

const stopLater = stopAfterEach();

interface Rig {
  ops: string;
  nginx: NginxInstance;
  sink: SpanSink;
  sidecar: Sidecar;
}

async function setUp(): Promise<Rig> {
  const sink = stopLater(await startSpanSink(), (s) => s.close());
  const nginx = stopLater(await startNginx({
    workerProcesses: 1,
    http: (ctx) => `
    ${otelSeqLogFormat()}
    server {
        listen ${ctx.listen()};
        access_log ${ctx.accessLog} otel_seq;
        location / { return 200 "ok\\n"; }
    }`,
  }), (n) => n.stop());
  const state = stopLater(tempDir('nos-rotation-'), (d) => d.remove());
  const run = await startRun(['--file', nginx.accessLog, '--checkpoint', state.path('checkpoint.json'), '--start-at', 'beginning', '--endpoint', sink.url]);
  const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
  await waitHealthy(run.ops);
  return { ops: run.ops, nginx, sink, sidecar };
}

interface Outcome {
  logged: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Delivered, but in no file: read before a truncate removed it. */
  caught: number;
  /** Logged by nginx, in no file and not delivered: copytruncate's own gap. */
  gap: number;
  ratePerSecond: number;
}

/** Waits for every logged request to arrive, stops the sidecar cleanly and counts. */
async function settle({ ops, nginx, sink, sidecar }: Rig, loadStartedAt: number, loadEndedAt: number): Promise<{ outcome: Outcome; metrics: Map<string, number> }> {
  const union = unionOfLogs(nginx.dir).map(parseSeqLine);
  const ids = new Set(union.map((r) => r.requestId));
  let missing = ids.size;
  try {
    await waitFor(`all ${ids.size} logged requests delivered`, () => {
      missing = 0;
      for (const id of ids) if (!sink.serverCount.has(id)) missing++;
      return missing === 0;
    }, 120_000, 500);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${missing} missing, ${sink.serverCount.size} delivered; metrics: ` +
      `${[...(await scrape(ops))].filter(([k]) => /lines|rotations|truncations|spans|lag/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')}\nsidecar stderr:\n${sidecar.stderr().slice(-5000)}`);
  }
  await sleep(1000); // anything still in flight would show up as a duplicate
  const metrics = await scrape(ops);
  const code = await sidecar.stop();
  expect(code, `exit code; stderr:\n${sidecar.stderr().slice(-3000)}`).toBe(0);

  let lost = 0;
  for (const id of ids) if (!sink.serverCount.has(id)) lost++;
  let duplicated = 0;
  for (const n of sink.serverCount.values()) if (n > 1) duplicated += n - 1;
  // Requests delivered that are in no file carry pid/connection/seq in their line only, so
  // they are identified through the holes they fill: gap = holes(union) - caught.
  const caught = [...sink.serverCount.keys()].filter((id) => !ids.has(id)).length;
  const gap = holes(union) - caught;
  return {
    outcome: {
      logged: union.length,
      delivered: sink.serverCount.size,
      lost,
      duplicated,
      caught,
      gap,
      ratePerSecond: Math.round(union.length / ((loadEndedAt - loadStartedAt) / 1000)),
    },
    metrics,
  };
}

describe('rotation under load, sidecar run --checkpoint', () => {
  it(`rename + reopen ${ROTATIONS}×: every logged request arrives exactly once`, async () => {
    const rig = await setUp();
    const { nginx } = rig;
    const started = Date.now();
    const load = wrk(nginx.url('/'), LOAD_SECONDS, { connections: 44, paced: true });
    for (let k = 1; k <= ROTATIONS; k++) {
      await sleep((LOAD_SECONDS * 1000) / (ROTATIONS + 1));
      renameSync(nginx.accessLog, `${nginx.accessLog}.${k}`);
      await nginx.reopen();
    }
    const report = await load.done;
    const ended = Date.now();
    const { outcome, metrics } = await settle(rig, started, ended);
    console.log(`rename rotation: ${JSON.stringify(outcome)}; wrk ${/Requests\/sec:\s+\S+/.exec(report)?.[0]}`);
    expect(outcome.logged).toBeGreaterThan(10_000);
    expect(outcome.delivered).toBe(outcome.logged);
    expect({
      lost: outcome.lost,
      duplicated: outcome.duplicated,
      caught: outcome.caught,
      holesInFiles: holes(unionOfLogs(nginx.dir).map(parseSeqLine)), // nginx lost nothing by the renames
      rotations: metrics.get('nginx_otel_sidecar_file_rotations_total'),
      truncations: metrics.get('nginx_otel_sidecar_file_truncations_total'),
      malformed: metrics.get('nginx_otel_sidecar_lines_malformed_total'),
    }, rig.sidecar.stderr()).toEqual({ lost: 0, duplicated: 0, caught: 0, holesInFiles: 0, rotations: ROTATIONS, truncations: 0, malformed: 0 });
  }, 200_000);

  it(`copytruncate ${ROTATIONS}×: every line of the copies and the log arrives exactly once; the copy-to-truncate gap is counted`, async () => {
    const rig = await setUp();
    const { nginx } = rig;
    const started = Date.now();
    const load = wrk(nginx.url('/'), LOAD_SECONDS, { connections: 44, paced: true });
    for (let k = 1; k <= ROTATIONS; k++) {
      await sleep((LOAD_SECONDS * 1000) / (ROTATIONS + 1));
      // what logrotate's copytruncate does: copy, then truncate the original in place
      copyFileSync(nginx.accessLog, `${nginx.accessLog}.${k}`);
      truncateSync(nginx.accessLog, 0);
    }
    await load.done;
    const ended = Date.now();
    const { outcome, metrics } = await settle(rig, started, ended);
    console.log(`copytruncate: ${JSON.stringify(outcome)}`);
    expect(outcome.logged).toBeGreaterThan(10_000);
    expect(outcome.gap).toBeGreaterThanOrEqual(0);
    expect({
      lost: outcome.lost,
      duplicated: outcome.duplicated,
      truncations: metrics.get('nginx_otel_sidecar_file_truncations_total'),
      rotations: metrics.get('nginx_otel_sidecar_file_rotations_total'),
      malformed: metrics.get('nginx_otel_sidecar_lines_malformed_total'),
    }, rig.sidecar.stderr()).toEqual({ lost: 0, duplicated: 0, truncations: ROTATIONS, rotations: 0, malformed: 0 });
  }, 200_000);
});
