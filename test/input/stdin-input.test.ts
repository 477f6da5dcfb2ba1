import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { StdinInput } from '../../src/input/stdin-input.js';
import { runInput } from './tail-helpers.ts';

describe('StdinInput', () => {
  it('reads lines from a process pipe, a split multibyte char and the unterminated last line included', async () => {
    const child = spawn(process.execPath, ['-e', `
      const w = (b) => new Promise((ok) => process.stdout.write(b, ok));
      (async () => {
        await w('one\\ntw'); await new Promise((ok) => setTimeout(ok, 50));
        await w(Buffer.from([0x6f, 0x20, 0xe2, 0x82])); await new Promise((ok) => setTimeout(ok, 50));
        await w(Buffer.from([0xac, 0x0a])); await w('last without newline');
      })();`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const input = new StdinInput({ stream: child.stdout, origin: 'child' });
    const r = runInput(input);
    await r.done;
    expect(r.lines).toEqual(['one', 'two €', 'last without newline']);
    expect(r.chunks.every((c) => c.resume === undefined && c.origin === 'child')).toBe(true);
    expect(input.counters.linesRead).toBe(3);
  });

  it('stops when aborted while the stream is still open', async () => {
    const child = spawn(process.execPath, ['-e', `process.stdout.write('a\\nb\\n'); setTimeout(() => {}, 10000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const r = runInput(new StdinInput({ stream: child.stdout }));
      await new Promise((ok) => setTimeout(ok, 300));
      await r.stop();
      expect(r.lines).toEqual(['a', 'b']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
