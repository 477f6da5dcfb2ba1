import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ChunkSink, LineInput } from './line-chunk.js';
import { StdinInput } from './stdin-input.js';

/**
 * Reads whole files once (`replay`): plain or gzip'd (by the `.gz` suffix), or `-` for
 * stdin. Each file is read as a stream, with the same line splitting and backpressure as
 * stdin, so memory stays flat however large the file.
 */
export class FileReplayInput implements LineInput {
  constructor(private readonly paths: string[], private readonly maxLineBytes?: number) {}

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    for (const path of this.paths) {
      if (path !== '-') await access(path).catch(() => { throw new Error(`cannot read ${path}: no such file or no permission`); });
    }
    for (const path of this.paths) {
      if (signal.aborted) return;
      const raw: Readable = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
      const stream = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
      await new StdinInput({ stream, origin: path === '-' ? 'stdin' : path, maxLineBytes: this.maxLineBytes }).run(sink, signal);
    }
  }
}
