import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/deliver/checkpoint-store.js';
import { tempDir } from './tail-helpers.ts';

let remove: (() => void) | undefined;
afterEach(() => remove?.());

function dir(): { path(name: string): string; dir: string } {
  const t = tempDir('nos-cp-');
  remove = t.remove;
  return t;
}

describe('CheckpointStore', () => {
  it('starts empty, writes on flush only what changed, loads it back', async () => {
    const t = dir();
    const file = t.path('state/checkpoint.json');
    const store = await CheckpointStore.open(file);
    expect(store.get('/var/log/nginx/access.log')).toBeUndefined();
    await store.flush();
    expect(existsSync(file)).toBe(false);
    store.update({ path: '/var/log/nginx/access.log', fileKey: '2049:12:1024.00ff00ff00ff00ff', offset: 4096 });
    store.update({ path: '/var/log/nginx/other.log', fileKey: '2049:13:0.e3b0c44298fc1c14', offset: 0 });
    await store.flush();
    await store.flush();
    expect(store.stats.writes).toBe(1);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.version).toBe(1);
    expect(doc.files).toHaveLength(2);
    expect(readdirSync(t.path('state'))).toEqual(['checkpoint.json']);

    const again = await CheckpointStore.open(file);
    expect(again.get('/var/log/nginx/access.log')).toEqual({ path: '/var/log/nginx/access.log', fileKey: '2049:12:1024.00ff00ff00ff00ff', offset: 4096 });
    again.update({ path: '/var/log/nginx/access.log', fileKey: '2049:12:1024.00ff00ff00ff00ff', offset: 8192 });
    await again.close();
    expect((await CheckpointStore.open(file)).get('/var/log/nginx/access.log')!.offset).toBe(8192);
  });

  it('sets a corrupt file aside and starts empty', async () => {
    const t = dir();
    const file = t.path('checkpoint.json');
    writeFileSync(file, '{"version":1,"files":[{"path":"/x","fileKey":"k","offs');
    const warnings: string[] = [];
    const store = await CheckpointStore.open(file, (m) => warnings.push(m));
    expect(store.all()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(readdirSync(t.dir).some((n) => n.startsWith('checkpoint.json.corrupt-'))).toBe(true);
  });

  it('never shows a reader a half-written file', async () => {
    const t = dir();
    const file = t.path('checkpoint.json');
    const store = await CheckpointStore.open(file);
    store.update({ path: '/p0', fileKey: 'k', offset: 0 });
    await store.flush();
    // another process reads and parses the file as fast as it can while it is rewritten
    const reader = spawn(process.execPath, ['-e', `
      const fs = require('fs'); let ok = 0, bad = 0; const end = Date.now() + 1500;
      while (Date.now() < end) { try { JSON.parse(fs.readFileSync(process.argv[1], 'utf8')); ok++; } catch { bad++; } }
      process.stdout.write(JSON.stringify({ ok, bad }));`, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((ok) => reader.once('exit', () => ok()));
    let i = 0;
    const end = Date.now() + 1200;
    while (Date.now() < end) {
      for (let k = 0; k < 200; k++) store.update({ path: `/p${k}`, fileKey: `${i}:${k}:${'f'.repeat(k % 50)}`, offset: i * k });
      await store.flush();
      i++;
    }
    await done;
    const { ok, bad } = JSON.parse(out) as { ok: number; bad: number };
    expect(i).toBeGreaterThan(10);
    expect(ok).toBeGreaterThan(0);
    expect(bad).toBe(0);
  });
});
