// Copytruncate while the reader is behind (found by the rotation fault test at ~50k lines/s,
// when the sidecar lagged nginx). Real files, FileTail itself, a sink the test holds.
//
// Both failed before 0f4c29d (the middle copy of two copytruncates during a blocked sink was
// never read; a truncate plus regrowth past the read offset within one poll was read as the
// continuation of the old content); file-tail.ts now checks the first bytes after every read
// and remembers each content the watch sees while the sink blocks.
import { appendFileSync, copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FileTail } from '../../src/input/file-tail.js';
import type { LineChunk } from '../../src/input/line-chunk.js';
import { tempDir } from '../input/tail-helpers.ts';
import { countBy, sleep, waitFor } from './helpers.ts';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const undo of cleanup.reverse()) await undo();
  cleanup = [];
});

/** `count` distinct lines of ~100 bytes, with a timestamp-like head so fingerprints differ per epoch. */
function epoch(name: string, count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += `{"epoch":"${name}","n":${i},"pad":"${'x'.repeat(60)}"}\n`;
  return text;
}

/** A FileTail whose sink the test can hold (backpressure, as when the collector is away). */
function follow(path: string, pollIntervalMs = 50) {
  const tail = new FileTail({ path, startAt: 'beginning', pollIntervalMs, rotateGraceMs: 200, maxLinesPerChunk: 100, readBufferBytes: 64 * 1024 });
  const lines: string[] = [];
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  let blocked = false;
  const ac = new AbortController();
  const done = tail.run(async (chunk: LineChunk) => {
    for (const l of chunk.lines) lines.push(l);
    blocked = true;
    await gate;
    blocked = false;
    if (chunk.resume !== undefined) tail.acknowledge(chunk.resume);
  }, ac.signal);
  cleanup.push(async () => {
    open();
    ac.abort();
    await done;
  });
  return {
    tail,
    lines,
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release() {
      open();
    },
    isBlocked: () => blocked,
  };
}

describe('copytruncate while the reader is behind', () => {
  it('two copytruncates while the sink is blocked: the middle epoch (in the second copy) is read', async () => {
    const dir = tempDir('nos-ct-');
    cleanup.push(dir.remove);
    const log = dir.path('access.log');
    writeFileSync(log, epoch('a', 2000));
    const f = follow(log);
    f.hold();
    await waitFor('the sink to block', f.isBlocked);
    await sleep(200); // the background watch runs meanwhile
    // logrotate copytruncate, twice, while the collector is away (an hour-long outage
    // spanning two hourly rotations is enough)
    copyFileSync(log, dir.path('access.log.1'));
    truncateSync(log, 0);
    appendFileSync(log, epoch('b', 2000));
    await sleep(300);
    copyFileSync(log, dir.path('access.log.2'));
    truncateSync(log, 0);
    appendFileSync(log, epoch('c', 2000));
    await sleep(300);
    f.release();
    await waitFor('epoch c read', () => f.lines.some((l) => l.includes('"c","n":1999')), 10_000).catch(() => {});
    await sleep(500);
    const seen = countBy(f.lines);
    const missing = ['a', 'b', 'c'].flatMap((e) => Array.from({ length: 2000 }, (_, n) => `"${e}","n":${n},`))
      .filter((key) => ![...seen.keys()].some((l) => l.includes(key)));
    expect({ truncations: f.tail.counters.truncations, missing: missing.length, firstMissing: missing[0] }).toEqual({ truncations: 2, missing: 0, firstMissing: undefined });
  });

  it('truncated and regrown past the read offset between two polls: no partial line, nothing read twice', async () => {
    const dir = tempDir('nos-ct-');
    cleanup.push(dir.remove);
    const log = dir.path('access.log');
    writeFileSync(log, epoch('a', 2000));
    // A long poll interval makes the window between two truncation checks wide enough to
    // hit every time; at the default 250 ms the same happens whenever nginx rewrites more
    // than the read offset within one interval (seen at ~30 MB/s with frequent rotations).
    const f = follow(log, 3_000);
    f.hold();
    await waitFor('the sink to block', f.isBlocked);
    copyFileSync(log, dir.path('access.log.1'));
    truncateSync(log, 0);
    appendFileSync(log, epoch('b', 3000)); // longer than what was read of epoch a
    f.release();
    await waitFor('epoch b read', () => f.lines.some((l) => l.includes('"b","n":2999')), 10_000).catch(() => {});
    await sleep(3_500); // the next check sees the truncation
    const partial = f.lines.filter((l) => !/^\{"epoch":"[ab]","n":\d+,"pad":"x+"\}$/.test(l));
    const twice = [...countBy(f.lines)].filter(([, n]) => n > 1).length;
    const distinct = new Set(f.lines);
    const missing = [...epoch('a', 2000).split('\n'), ...epoch('b', 3000).split('\n')].filter((l) => l !== '' && !distinct.has(l)).length;
    expect({ partial: partial.length, readTwice: twice, missing, lines: f.lines.length }).toEqual({ partial: 0, readTwice: 0, missing: 0, lines: 5000 });
  });
});
