// Issue #3 §6: garbage between valid lines (binary junk, a 10 MB line, invalid UTF-8,
// truncated JSON, JSON that is no access log): every valid neighbour arrives exactly once,
// every bad line is counted; through a followed file and through standard input.
import { appendFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startSpanSink, type SpanSink } from '../support/span-sink.ts';
import { stopAfterEach } from '../support/stop-after-each.ts';
import { tempDir } from '../input/tail-helpers.ts';
import { rssMiB, runWithStdin, scrape, sleep, startRun, waitFor, waitHealthy } from './helpers.ts';

const stopLater = stopAfterEach();

let nextId = 1;
/** A valid line in the recommended format (no upstream: one SERVER span). */
function valid(ua: Buffer | string = 'test/1.0'): { id: string; bytes: Buffer } {
  const n = nextId++;
  const id = `bad0${n.toString(16).padStart(28, '0')}`;
  const head = `{"msec":"${(1_790_000_000 + n / 1000).toFixed(3)}","request_time":"0.001","request_id":"${id}","remote_addr":"127.0.0.1",` +
    `"request_method":"GET","scheme":"http","host":"shop.example","server_port":"80","request_uri":"/g/${n}","server_protocol":"HTTP/1.1",` +
    `"status":"200","body_bytes_sent":"3","request_length":"40","http_user_agent":"`;
  const tail = `","upstream_addr":"","upstream_status":"","upstream_connect_time":"","upstream_header_time":"","upstream_response_time":"",` +
    `"http_traceparent":"","http_tracestate":"","http_x_amzn_trace_id":""}\n`;
  return { id, bytes: Buffer.concat([Buffer.from(head), Buffer.isBuffer(ua) ? ua : Buffer.from(ua), Buffer.from(tail)]) };
}

function junk(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let seed = 7;
  for (let i = 0; i < bytes; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    b[i] = seed >>> 24;
    if (b[i] === 10) b[i] = 0; // one line of junk (NULs included)
  }
  return Buffer.concat([b, Buffer.from('\n')]);
}

interface Garbage {
  /** Pieces of the log in order, valid and bad. */
  pieces: Buffer[];
  validIds: string[];
  malformed: number;
  truncated: number;
  lines: number;
}

/** `groups` runs of valid lines with one kind of garbage after each. */
function garbageLog(validPerGroup: number): Garbage {
  const bad: Array<[Buffer, 'malformed' | 'truncated+malformed']> = [
    [junk(4096), 'malformed'],
    [Buffer.concat([Buffer.from('{"msec":"1790000000.000","http_user_agent":"'), Buffer.alloc(10 * 1024 * 1024, 'x'), Buffer.from('"}\n')]), 'truncated+malformed'],
    [Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x20, 0x6e, 0x6f, 0x74, 0x20, 0x6a, 0x73, 0x6f, 0x6e, 0x80, 0x0a]), 'malformed'], // invalid UTF-8, not JSON
    [Buffer.from('{"msec":"1790000000.123","request_time":"0.001","request_id":"0af7651916cd43dd8448eb211c8\n'), 'malformed'], // truncated JSON
    [Buffer.from('{"msec":"1790000000.123","request_time":"0.001","request_id":"0af7'), 'malformed'], // no newline yet: joins the next piece
    [Buffer.from('[1,2,3]\n'), 'malformed'],
    [Buffer.from('{"hello":"world"}\n'), 'malformed'],
    [Buffer.from('\u0000\u0000\u0000\u0000\n'), 'malformed'],
  ];
  const g: Garbage = { pieces: [], validIds: [], malformed: 0, truncated: 0, lines: 0 };
  for (const [piece, kind] of bad) {
    for (let i = 0; i < validPerGroup; i++) {
      const v = valid();
      g.pieces.push(v.bytes);
      g.validIds.push(v.id);
      g.lines++;
    }
    // a valid line whose user agent holds invalid UTF-8 (nginx's escape=json passes bytes ≥ 0x80 through): it arrives
    const odd = valid(Buffer.from([0x62, 0x6f, 0x74, 0xff, 0xfe, 0xc3]));
    g.pieces.push(odd.bytes);
    g.validIds.push(odd.id);
    g.lines++;
    g.pieces.push(piece);
    g.malformed++;
    if (kind === 'truncated+malformed') g.truncated++;
    if (piece.at(-1) === 10) g.lines++;
  }
  // the unterminated piece and the valid line after it are one malformed line
  const joined = bad.findIndex(([p]) => p.at(-1) !== 10);
  const pieceIndex = g.pieces.indexOf(bad[joined][0]);
  const victim = g.pieces[pieceIndex + 1];
  g.validIds = g.validIds.filter((id) => !victim.includes(Buffer.from(id)));
  // Then a blank line (skipped, not counted) and a last valid line.
  g.pieces.push(Buffer.from('\n'));
  g.lines++;
  const last = valid();
  g.pieces.push(last.bytes);
  g.validIds.push(last.id);
  g.lines++;
  return g;
}

function expectExactlyOnce(sink: SpanSink, ids: string[]): void {
  const missing = ids.filter((id) => !sink.serverCount.has(id));
  const twice = ids.filter((id) => (sink.serverCount.get(id) ?? 0) > 1);
  expect({ missing, twice, unexpected: sink.serverCount.size - ids.length }).toEqual({ missing: [], twice: [], unexpected: 0 });
}

describe('garbage between valid lines', () => {
  it('followed file: every valid neighbour arrives once, every bad line is counted (/metrics and the status line)', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const dir = stopLater(tempDir('nos-garbage-'), (d) => d.remove());
    const log = dir.path('access.log');
    const g = garbageLog(50);
    // half before the start, the rest appended while it follows, piece by piece
    const half = Math.floor(g.pieces.length / 2);
    writeFileSync(log, Buffer.concat(g.pieces.slice(0, half)));
    const run = await startRun(['--file', log, '--start-at', 'beginning', '--endpoint', sink.url]);
    const sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
    await waitHealthy(run.ops);
    for (const piece of g.pieces.slice(half)) {
      appendFileSync(log, piece);
      await sleep(5);
    }
    await waitFor(`${g.validIds.length} requests`, () => g.validIds.every((id) => sink.serverCount.has(id)), 30_000);
    await waitFor('counters', async () => (await scrape(run.ops)).get('nginx_otel_sidecar_lines_parsed_total') === g.validIds.length, 5000);
    const m = await scrape(run.ops);
    const rss = rssMiB(sidecar.child.pid!);
    expect(await sidecar.stop()).toBe(0);

    expectExactlyOnce(sink, g.validIds);
    expect(m.get('nginx_otel_sidecar_lines_read_total')).toBe(g.lines);
    expect(m.get('nginx_otel_sidecar_lines_malformed_total')).toBe(g.malformed);
    expect(m.get('nginx_otel_sidecar_lines_truncated_total')).toBe(g.truncated);
    expect(m.get('nginx_otel_sidecar_lines_parsed_total')).toBe(g.validIds.length);
    expect(sidecar.stderr()).toMatch(new RegExp(`stopped: lines ${g.lines} .*, malformed ${g.malformed}, truncated ${g.truncated},`));
    expect(sidecar.stderr()).toMatch(/malformed line in .*access\.log at byte \d+: /);
    console.log(`garbage (file): ${g.validIds.length} valid lines arrived once, ${g.malformed} bad lines counted malformed (${g.truncated} truncated), RSS ${rss.toFixed(0)} MiB after a 10 MiB line`);
  });

  it('standard input (--file -): the same, and it exits 0 at the end of the input with everything delivered', async () => {
    const sink = stopLater(await startSpanSink(), (s) => s.close());
    const g = garbageLog(500);
    const started = Date.now();
    const result = await runWithStdin(['run', '--file', '-', '--endpoint', sink.url, '--sample-ratio', '1', '--status-interval', '0'], Buffer.concat(g.pieces));
    expect(result.code, result.stderr).toBe(0);
    expectExactlyOnce(sink, g.validIds);
    expect(result.stderr).toMatch(new RegExp(`stopped: lines ${g.lines} .*, malformed ${g.malformed}, truncated ${g.truncated}, spans exported ${g.validIds.length},`));
    expect(result.stderr).toMatch(/malformed line in stdin( at byte \d+)?: /);
    console.log(`garbage (stdin): ${g.validIds.length} valid lines and ${g.malformed} bad ones piped in, all delivered, exit 0 after ${Date.now() - started} ms`);
  });
});
