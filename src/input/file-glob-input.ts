import { glob, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FileTail, type FileTailOptions } from './file-tail.js';
import { newInputCounters, type ChunkSink, type InputCounters, type LineInput, type LineChunk, type ResumePosition } from './line-chunk.js';

/**
 * Follows several paths and globs: one `FileTail` per matching path, sharing one counters
 * object, their chunks handed to the sink one at a time. A plain path (no `*?[{`) is
 * followed even while it does not exist. Globs are expanded again every `rescanIntervalMs`;
 * a path that first matches after the start is a new file and is read from its beginning.
 *
 * Patterns must match the live file names only (`/var/log/nginx/*.log`), not the rotated
 * ones (`access.log.1`): each tailer finds the rotated files of its own path itself, and a
 * pattern matching them would read them a second time.
 */
export interface FileGlobInputOptions extends Omit<FileTailOptions, 'path' | 'counters'> {
  patterns: string[];
  /** Default 5000. */
  rescanIntervalMs?: number;
}

const MAGIC = /[*?[\]{}]/;

export class FileGlobInput implements LineInput {
  readonly counters: InputCounters = newInputCounters();
  private readonly tailers = new Map<string, FileTail>();
  private readonly options: FileGlobInputOptions;

  constructor(options: FileGlobInputOptions) {
    this.options = options;
  }

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    const inner = new AbortController();
    const stop = (): void => inner.abort();
    signal.addEventListener('abort', stop, { once: true });
    let turn: Promise<unknown> = Promise.resolve();
    const serial: ChunkSink = (chunk: LineChunk) => {
      const p = turn.then(() => sink(chunk));
      turn = p.catch(() => {});
      return p;
    };
    const runs: Promise<void>[] = [];
    let failure: unknown;
    const start = (path: string, startAt: FileTailOptions['startAt']): void => {
      const tail = new FileTail({ ...this.options, path, startAt, counters: this.counters });
      this.tailers.set(path, tail);
      runs.push(
        tail.run(serial, inner.signal).catch((err: unknown) => {
          failure ??= err;
          inner.abort();
        }),
      );
    };
    try {
      let first = true;
      while (!inner.signal.aborted) {
        for (const path of await this.expand()) {
          if (!this.tailers.has(path)) start(path, first ? this.options.startAt : 'beginning');
        }
        first = false;
        if (!this.options.patterns.some((p) => MAGIC.test(p))) break;
        await delay(this.options.rescanIntervalMs ?? 5000, undefined, { signal: inner.signal }).catch(() => {});
      }
      await Promise.all(runs);
    } finally {
      signal.removeEventListener('abort', stop);
      inner.abort();
      await Promise.all(runs);
    }
    if (failure !== undefined) throw failure;
  }

  acknowledge(position: ResumePosition): void {
    this.tailers.get(position.path)?.acknowledge(position);
  }

  lagBytes(): number {
    let lag = 0;
    for (const t of this.tailers.values()) lag += t.lagBytes();
    return lag;
  }

  /** Paths currently followed. */
  paths(): string[] {
    return [...this.tailers.keys()];
  }

  private async expand(): Promise<string[]> {
    const out = new Set<string>();
    for (const pattern of this.options.patterns) {
      if (!MAGIC.test(pattern)) {
        out.add(resolve(pattern));
        continue;
      }
      for await (const d of glob(pattern, { withFileTypes: true })) {
        const path = resolve(d.parentPath, d.name);
        // A symbolic link to a log file is followed, as the same path given plainly would be.
        if (d.isFile() || (d.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile())) out.add(path);
      }
    }
    return [...out].sort();
  }
}
