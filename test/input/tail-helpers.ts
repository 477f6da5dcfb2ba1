import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LineChunk, LineInput } from '../../src/input/line-chunk.js';

export function tempDir(prefix = 'nos-input-'): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface Running {
  lines: string[];
  chunks: LineChunk[];
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs an input, collecting its lines. With `ack`, every chunk is acknowledged as soon as
 * it arrives (delivery that never fails); `sinkDelayMs` makes the sink slow.
 */
export function runInput(input: LineInput, options: { ack?: boolean; sinkDelayMs?: number } = {}): Running {
  const ac = new AbortController();
  const lines: string[] = [];
  const chunks: LineChunk[] = [];
  const done = input.run(async (chunk) => {
    chunks.push(chunk);
    for (const l of chunk.lines) lines.push(l);
    if (options.sinkDelayMs !== undefined) await sleep(options.sinkDelayMs);
    if (options.ack === true && chunk.resume !== undefined) input.acknowledge?.(chunk.resume);
  }, ac.signal);
  return {
    lines,
    chunks,
    done,
    async stop() {
      ac.abort();
      await done;
    },
  };
}

/** Counts each distinct line; returns those seen more than once. */
export function duplicates(lines: Iterable<string>): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const l of lines) {
    if (seen.has(l)) dup.push(l);
    seen.add(l);
  }
  return dup;
}
