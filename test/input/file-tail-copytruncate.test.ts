// FileTail and copytruncate while the sink holds the reader: several truncations queued
// in order, the identity check after each read, and the documented limit (a content the
// watch never saw cannot be found).
import { appendFileSync, copyFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FileTail } from '../../src/input/file-tail.js';
import { duplicates, sleep, tempDir, waitFor } from './tail-helpers.ts';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** `count` distinct lines of ~100 bytes, so each epoch has its own first KiB. */
function epoch(name: string, count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += `{"epoch":"${name}","n":${i},"pad":"${'x'.repeat(60)}"}\n`;
  return text;
}
const linesOf = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/** FileTail with a sink the test holds until `release()`. */
function held(path: string, pollIntervalMs: number) {
  const warnings: string[] = [];
  const tail = new FileTail({ path, startAt: 'beginning', pollIntervalMs, rotateGraceMs: 200, maxLinesPerChunk: 100, readBufferBytes: 64 * 1024, warn: (m) => warnings.push(m) });
  const lines: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((ok) => (release = ok));
  let blocked = false;
  const ac = new AbortController();
  const done = tail.run(async (chunk) => {
    lines.push(...chunk.lines);
    blocked = true;
    await gate;
    tail.acknowledge(chunk.resume!);
  }, ac.signal);
  cleanups.push(async () => {
    release();
    ac.abort();
    await done;
  });
  return { tail, lines, warnings, release, isBlocked: () => blocked };
}

/** What logrotate's copytruncate does with `rotate N`: shift .k to .k+1, copy to .1, truncate. */
function logrotateCopytruncate(log: string, kept: number): void {
  for (let k = kept - 1; k >= 1; k--) {
    try {
      renameSync(`${log}.${k}`, `${log}.${k + 1}`);
    } catch {
      // not there yet
    }
  }
  copyFileSync(log, `${log}.1`);
  truncateSync(log, 0);
}

describe('FileTail, copytruncate while the sink is blocked', () => {
  it('three copytruncates (logrotate renaming the copies): every content read once, oldest first', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const log = t.path('access.log');
    const epochs = ['a', 'b', 'c', 'd'].map((e) => epoch(e, 1500));
    writeFileSync(log, epochs[0]);
    const r = held(log, 50);
    await waitFor('the sink to block', r.isBlocked);
    for (const next of epochs.slice(1)) {
      logrotateCopytruncate(log, 5);
      appendFileSync(log, next);
      await sleep(250); // several polls: the watch sees each content
    }
    r.release();
    const all = epochs.flatMap(linesOf);
    await waitFor('all lines', () => r.lines.length >= all.length, 10_000);
    await sleep(300);
    expect(duplicates(r.lines)).toEqual([]);
    expect(r.lines).toEqual(all);
    expect(r.tail.counters.truncations).toBe(3);
  });

  it('a content that came and went within one poll is not read (documented limit); nothing else is lost, split or read twice', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const log = t.path('access.log');
    writeFileSync(log, epoch('a', 1500));
    const r = held(log, 1000);
    await waitFor('the sink to block', r.isBlocked);
    await sleep(100);
    logrotateCopytruncate(log, 5);
    appendFileSync(log, epoch('b', 1500));
    logrotateCopytruncate(log, 5); // before any poll saw b
    appendFileSync(log, epoch('c', 1500));
    r.release();
    const expected = [...linesOf(epoch('a', 1500)), ...linesOf(epoch('c', 1500))];
    await waitFor('a and c', () => r.lines.length >= expected.length, 10_000);
    await sleep(1200);
    expect(r.lines).toEqual(expected);
    expect(r.tail.counters.truncations).toBe(1);
  });

  it('checks identity before using a read: truncated and regrown past the offset, with no poll in between', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const log = t.path('access.log');
    writeFileSync(log, epoch('a', 1500));
    const r = held(log, 60_000); // no poll during the test: only the check after each read can see it
    await waitFor('the sink to block', r.isBlocked);
    copyFileSync(log, `${log}.1`);
    truncateSync(log, 0);
    appendFileSync(log, epoch('b', 3000));
    r.release();
    const expected = [...linesOf(epoch('a', 1500)), ...linesOf(epoch('b', 3000))];
    await waitFor('a and b', () => r.lines.length >= expected.length, 10_000);
    await sleep(200);
    expect(r.lines).toEqual(expected);
    expect(r.tail.counters.truncations).toBe(1);
    expect(r.warnings.some((w) => w.includes('reading the rest of') && w.includes('access.log.1'))).toBe(true);
  });
});
