import { appendFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/deliver/checkpoint-store.js';
import { FileGlobInput } from '../../src/input/file-glob-input.js';
import { runInput, sleep, tempDir, waitFor, type Running } from './tail-helpers.ts';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('FileGlobInput', () => {
  it('follows every matching file, picks up new ones from their start, routes acknowledgements', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    writeFileSync(t.path('a.log'), 'old a\n');
    writeFileSync(t.path('b.log'), 'old b\n');
    writeFileSync(t.path('a.log.1'), 'rotated, not matched\n');
    const store = await CheckpointStore.open(t.path('cp.json'));
    const input = new FileGlobInput({ patterns: [t.path('*.log')], startAt: 'end', checkpoint: store, pollIntervalMs: 20, rescanIntervalMs: 100 });
    const r: Running = runInput(input, { ack: true });
    cleanups.push(() => r.stop());
    await sleep(150);
    appendFileSync(t.path('a.log'), 'new a\n');
    appendFileSync(t.path('b.log'), 'new b\n');
    writeFileSync(t.path('c.log'), 'first c\n');
    await waitFor('3 lines', () => r.lines.length === 3);
    expect([...r.lines].sort()).toEqual(['first c', 'new a', 'new b']);
    expect(input.paths()).toEqual([t.path('a.log'), t.path('b.log'), t.path('c.log')]);
    expect(store.get(t.path('c.log'))!.offset).toBe(8);
    expect(store.get(t.path('a.log'))!.offset).toBe(12);
    expect(input.counters.linesRead).toBe(3);
    expect(input.lagBytes()).toBe(0);
  });
});
