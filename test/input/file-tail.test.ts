import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/deliver/checkpoint-store.js';
import { FileTail, type FileTailOptions } from '../../src/input/file-tail.js';
import { duplicates, runInput, sleep, tempDir, waitFor, type Running } from './tail-helpers.ts';

const FAST = { pollIntervalMs: 20, rotateGraceMs: 400 } satisfies Partial<FileTailOptions>;

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function setup(): { path(name: string): string; log: string; dir: string } {
  const t = tempDir();
  cleanups.push(t.remove);
  return { path: t.path, log: t.path('access.log'), dir: t.dir };
}

function start(options: FileTailOptions, run: { ack?: boolean; sinkDelayMs?: number } = { ack: true }): { tail: FileTail } & Running {
  const tail = new FileTail({ ...FAST, ...options });
  const r = runInput(tail, run);
  cleanups.push(() => r.stop());
  return { tail, ...r };
}

const seqLines = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `line ${from + i}`);
const text = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

describe('FileTail', () => {
  it('joins a line written in two parts, never flushing the partial one', async () => {
    const { log } = setup();
    writeFileSync(log, '');
    const r = start({ path: log });
    await sleep(60);
    appendFileSync(log, 'first half');
    await sleep(200);
    expect(r.lines).toEqual([]);
    appendFileSync(log, ' second half\nnext\n');
    await waitFor('2 lines', () => r.lines.length === 2);
    expect(r.lines).toEqual(['first half second half', 'next']);
    expect(r.chunks.at(-1)!.resume!.offset).toBe(statSync(log).size);
  });

  it('keeps a multibyte character split across two writes, and invalid UTF-8 as U+FFFD', async () => {
    const { log } = setup();
    writeFileSync(log, '');
    const r = start({ path: log });
    await sleep(60);
    const euro = Buffer.from('€');
    appendFileSync(log, Buffer.concat([Buffer.from('price '), euro.subarray(0, 1)]));
    await sleep(100);
    appendFileSync(log, Buffer.concat([euro.subarray(1), Buffer.from('5\n')]));
    appendFileSync(log, Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28, 0x0a]));
    await waitFor('2 lines', () => r.lines.length === 2);
    expect(r.lines).toEqual(['price €5', 'bad\uFFFD(']);
  });

  it('cuts a 10 MB line to the 1 MiB cap with bounded memory, neighbours intact', async () => {
    const { log } = setup();
    writeFileSync(log, '');
    const r = start({ path: log, readBufferBytes: 256 * 1024 });
    await sleep(60);
    appendFileSync(log, 'before\n');
    const piece = Buffer.alloc(1024 * 1024, 'y');
    for (let i = 0; i < 10; i++) appendFileSync(log, piece);
    appendFileSync(log, '\nafter\n');
    await waitFor('3 lines', () => r.lines.length === 3);
    expect(r.lines[0]).toBe('before');
    expect(r.lines[1].length).toBe(1024 * 1024);
    expect(r.lines[2]).toBe('after');
    expect(r.tail.counters.linesTruncated).toBe(1);
    expect(r.tail.maxHeldLineBytes()).toBeLessThanOrEqual(1024 * 1024);
    const chunk = r.chunks.find((c) => c.lines.includes(r.lines[1]))!;
    expect(chunk.truncated).toEqual([chunk.lines.indexOf(r.lines[1])]);
    expect(r.chunks.at(-1)!.resume!.offset).toBe(statSync(log).size);
  });

  it('waits for a file absent at start and then reads it from its beginning', async () => {
    const { log } = setup();
    const r = start({ path: log, startAt: 'end' });
    await sleep(150);
    writeFileSync(log, text(seqLines(0, 3)));
    await waitFor('3 lines', () => r.lines.length === 3);
    appendFileSync(log, text(seqLines(3, 5)));
    await waitFor('5 lines', () => r.lines.length === 5);
    expect(r.lines).toEqual(seqLines(0, 5));
  });

  it('starts at the end (at a line start) or at the beginning of an existing file', async () => {
    const { log } = setup();
    writeFileSync(log, `${text(seqLines(0, 3))}partial`);
    const atEnd = start({ path: log, startAt: 'end' });
    const atStart = start({ path: log, startAt: 'beginning' });
    await sleep(100);
    appendFileSync(log, ' done\n');
    await waitFor('lines', () => atEnd.lines.length === 1 && atStart.lines.length === 4);
    expect(atEnd.lines).toEqual(['partial done']);
    expect(atStart.lines).toEqual([...seqLines(0, 3), 'partial done']);
  });

  it('sends chunks of at most maxLinesPerChunk lines and reads nothing more while the sink is busy', async () => {
    const { log } = setup();
    writeFileSync(log, text(seqLines(0, 10_000)));
    const r = start({ path: log, startAt: 'beginning', maxLinesPerChunk: 1000, readBufferBytes: 16 * 1024 }, { ack: true, sinkDelayMs: 50 });
    await waitFor('first chunk', () => r.chunks.length >= 1);
    await sleep(120);
    // 3 chunks of 1000 lines at most in 120 ms (50 ms each), and at most one read buffer ahead
    expect(r.chunks.length).toBeLessThanOrEqual(4);
    expect(r.tail.counters.bytesRead).toBeLessThanOrEqual(r.chunks.at(-1)!.resume!.offset + 16 * 1024);
    await waitFor('all', () => r.lines.length === 10_000, 20_000);
    expect(r.chunks.every((c) => c.lines.length <= 1000)).toBe(true);
    expect(r.lines).toEqual(seqLines(0, 10_000));
  });

  it('follows rename rotation when the writers reopen 1.5 and 2 s late: nothing lost, nothing twice', async () => {
    const { log, path } = setup();
    // A separate process writes numbered lines through two descriptors, like two nginx
    // workers. On SIGHUP it keeps writing to the old file, then reopens the path: one
    // "worker" after 1.5 s, the other after 2 s (so for 0.5 s both files grow).
    const writerSrc = `
      const fs = require('fs');
      const path = process.argv[1];
      const fds = [fs.openSync(path, 'a'), fs.openSync(path, 'a')];
      let seq = 0, stop = false, turn = 0;
      const reopen = (w) => { const old = fds[w]; fds[w] = fs.openSync(path, 'a'); fs.closeSync(old); };
      process.on('SIGHUP', () => { setTimeout(() => reopen(0), 1500); setTimeout(() => reopen(1), 2000); });
      process.on('SIGTERM', () => { stop = true; });
      const tick = () => {
        if (stop) { process.stdout.write(String(seq)); process.exit(0); }
        let s = '';
        for (let i = 0; i < 10; i++) s += 'line ' + (seq++) + ' ' + 'x'.repeat(seq % 97) + '\\n';
        fs.writeSync(fds[turn], s);
        turn = 1 - turn;
        setTimeout(tick, 1);
      };
      tick();`;
    writeFileSync(log, '');
    const r = start({ path: log, startAt: 'beginning', rotateGraceMs: 1000 });
    const writer = spawn(process.execPath, ['-e', writerSrc, log], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((ok) => writer.once('exit', () => ok()));
    cleanups.push(() => {
      writer.kill('SIGKILL');
    });
    await sleep(400);
    renameSync(log, path('access.log.1'));
    writer.kill('SIGHUP');
    await sleep(2500);
    renameSync(path('access.log.1'), path('access.log.2'));
    renameSync(log, path('access.log.1'));
    writer.kill('SIGHUP');
    await sleep(2500);
    writer.kill('SIGTERM');
    await exited;
    const total = Number(out);
    expect(total).toBeGreaterThan(1000);
    await waitFor(`${total} lines`, () => r.lines.length >= total, 10_000);
    await sleep(100);
    expect(duplicates(r.lines)).toEqual([]);
    const seqs = r.lines.map((l) => Number(l.split(' ')[1])).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(r.tail.counters.rotations).toBe(2);
    expect(r.tail.counters.truncations).toBe(0);
  });

  it('does not miss a rotation that happened while the sink was blocked', async () => {
    const { log, path } = setup();
    writeFileSync(log, text(seqLines(0, 10)));
    let release!: () => void;
    const gate = new Promise<void>((ok) => (release = ok));
    const tail = new FileTail({ ...FAST, path: log, startAt: 'beginning', rotateGraceMs: 100 });
    const lines: string[] = [];
    const ac = new AbortController();
    const done = tail.run(async (chunk) => {
      lines.push(...chunk.lines);
      await gate;
      tail.acknowledge(chunk.resume!);
    }, ac.signal);
    cleanups.push(async () => {
      release();
      ac.abort();
      await done;
    });
    await waitFor('first chunk', () => lines.length === 10);
    appendFileSync(log, text(seqLines(10, 20)));
    renameSync(log, path('access.log.1'));
    writeFileSync(log, text(seqLines(20, 30)));
    await sleep(100);
    renameSync(path('access.log.1'), path('access.log.2'));
    renameSync(log, path('access.log.1'));
    writeFileSync(log, text(seqLines(30, 40)));
    await sleep(100);
    expect(tail.lagBytes()).toBe(Buffer.byteLength(text(seqLines(0, 40))));
    release();
    await waitFor('40 lines', () => lines.length === 40, 5000);
    expect(lines).toEqual(seqLines(0, 40));
    expect(tail.counters.rotations).toBe(2);
  });

  it('follows copytruncate, reading the unread rest from the copy first', async () => {
    const { log, path } = setup();
    writeFileSync(log, text(seqLines(0, 100)));
    const r = start({ path: log, startAt: 'beginning' }, { ack: true, sinkDelayMs: 0 });
    await waitFor('100', () => r.lines.length === 100);
    // Lines the tailer cannot have read yet go into the copy, then the file is truncated.
    const tail = r.tail;
    const poll = 20;
    appendFileSync(log, text(seqLines(100, 150)));
    copyFileSync(log, path('access.log.1'));
    truncateSync(log, 0);
    appendFileSync(log, text(seqLines(150, 160)));
    await waitFor('160', () => r.lines.length >= 160, 5000);
    await sleep(poll * 5);
    expect(r.lines).toEqual(seqLines(0, 160));
    expect(tail.counters.truncations).toBe(1);
    // and once more, with no copy at all: the truncated file is read again from 0
    truncateSync(log, 0);
    await sleep(100);
    appendFileSync(log, text(seqLines(160, 170)));
    await waitFor('170', () => r.lines.length >= 170, 5000);
    expect(r.lines).toEqual(seqLines(0, 170));
    expect(tail.counters.truncations).toBe(2);
  });

  it('sees a truncation even when the file grew past the read offset again before the next poll', async () => {
    const { log } = setup();
    writeFileSync(log, text(seqLines(0, 200)));
    const r = start({ path: log, startAt: 'beginning' });
    await waitFor('200', () => r.lines.length === 200);
    // truncate and write more than before, without yielding to the tailer in between
    truncateSync(log, 0);
    appendFileSync(log, text(seqLines(1000, 1400)));
    await waitFor('600', () => r.lines.length >= 600, 5000);
    await sleep(100);
    expect(r.lines).toEqual([...seqLines(0, 200), ...seqLines(1000, 1400)]);
    expect(r.tail.counters.truncations).toBe(1);
  });

  it('resumes from the acknowledged checkpoint after a restart (unacknowledged lines come again)', async () => {
    const { log, path } = setup();
    const cpFile = path('checkpoint.json');
    writeFileSync(log, text(seqLines(0, 50)));
    let store = await CheckpointStore.open(cpFile);
    const first = new FileTail({ ...FAST, path: log, startAt: 'beginning', checkpoint: store, maxLinesPerChunk: 10 });
    // acknowledge only the first 3 chunks (30 lines)
    const ac = new AbortController();
    let seen = 0;
    const running = first.run(async (chunk) => {
      seen += chunk.lines.length;
      if (seen <= 30) first.acknowledge(chunk.resume!);
    }, ac.signal);
    await waitFor('50 read', () => seen === 50);
    ac.abort();
    await running;
    await store.close();
    appendFileSync(log, text(seqLines(50, 60)));

    store = await CheckpointStore.open(cpFile);
    expect(store.get(log)!.offset).toBe(Buffer.byteLength(text(seqLines(0, 30))));
    const r = start({ path: log, startAt: 'end', checkpoint: store });
    await waitFor('30 lines', () => r.lines.length === 30);
    await sleep(100);
    expect(r.lines).toEqual(seqLines(30, 60));
    expect(r.tail.lagBytes()).toBe(0);
  });

  it('after a restart, reads the rest of a file renamed while it was down, then the new file', async () => {
    const { log, path } = setup();
    const cpFile = path('checkpoint.json');
    writeFileSync(log, text(seqLines(0, 40)));
    let store = await CheckpointStore.open(cpFile);
    const first = start({ path: log, startAt: 'beginning', checkpoint: store });
    await waitFor('40', () => first.lines.length === 40);
    await first.stop();
    await store.close();
    // while down: more lines, rotation, a new file
    appendFileSync(log, text(seqLines(40, 60)));
    renameSync(log, path('access.log.1'));
    writeFileSync(log, text(seqLines(60, 75)));

    store = await CheckpointStore.open(cpFile);
    const r = start({ path: log, checkpoint: store, rotateGraceMs: 200 });
    await waitFor('35 lines', () => r.lines.length === 35, 5000);
    await sleep(100);
    expect(r.lines).toEqual(seqLines(40, 75));
    expect(r.tail.counters.rotations).toBe(1);
    expect(r.tail.counters.checkpointMisses).toBe(0);
  });

  it('after a restart, finds the copy of a file copytruncated while it was down', async () => {
    const { log, path } = setup();
    const cpFile = path('checkpoint.json');
    // long enough for a complete fingerprint (1 KiB), which is what recognises a copy
    writeFileSync(log, text(seqLines(0, 200)));
    let store = await CheckpointStore.open(cpFile);
    const first = start({ path: log, startAt: 'beginning', checkpoint: store });
    await waitFor('200', () => first.lines.length === 200);
    await first.stop();
    await store.close();
    appendFileSync(log, text(seqLines(200, 220)));
    copyFileSync(log, path('access.log.1'));
    truncateSync(log, 0);
    appendFileSync(log, text(seqLines(220, 230)));

    store = await CheckpointStore.open(cpFile);
    const r = start({ path: log, checkpoint: store });
    await waitFor('30 lines', () => r.lines.length === 30, 5000);
    await sleep(100);
    expect(r.lines).toEqual(seqLines(200, 230));
  });

  it('does not take a different file with the same inode for the checkpointed one', async () => {
    const { log, path } = setup();
    const cpFile = path('checkpoint.json');
    writeFileSync(log, text(seqLines(0, 200)));
    let store = await CheckpointStore.open(cpFile);
    const first = start({ path: log, startAt: 'beginning', checkpoint: store });
    await waitFor('200', () => first.lines.length === 200);
    await first.stop();
    await store.close();
    // same inode, new content longer than the old offset (as if the inode were reused)
    writeFileSync(log, text(seqLines(1000, 1400)));
    store = await CheckpointStore.open(cpFile);
    const r = start({ path: log, checkpoint: store });
    await waitFor('400 lines', () => r.lines.length === 400, 5000);
    expect(r.lines).toEqual(seqLines(1000, 1400));
  });

  it('reports lag: bytes written but not yet acknowledged', async () => {
    const { log } = setup();
    writeFileSync(log, text(seqLines(0, 10)));
    const tail = new FileTail({ ...FAST, path: log, startAt: 'beginning' });
    const r = runInput(tail, { ack: false });
    cleanups.push(() => r.stop());
    await waitFor('10', () => r.lines.length === 10);
    await sleep(60);
    expect(tail.lagBytes()).toBe(statSync(log).size);
    tail.acknowledge(r.chunks.at(-1)!.resume!);
    expect(tail.lagBytes()).toBe(0);
    appendFileSync(log, 'one more\n');
    await waitFor('11', () => r.lines.length === 11);
    await sleep(60);
    expect(tail.lagBytes()).toBe(9);
  });
});
