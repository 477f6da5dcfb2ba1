import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
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

  /** Throws, naming the file, unless every file can be read (so a typo fails before anything is exported). */
  async check(): Promise<void> {
    for (const path of this.paths) {
      if (path === '-') continue;
      const reason = await access(path, constants.R_OK).then(
        async () => ((await stat(path)).isDirectory() ? 'it is a directory' : undefined),
        (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'no such file' : 'no permission'),
      );
      if (reason !== undefined) throw new Error(`cannot read ${path}: ${reason}`);
    }
  }

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    await this.check();
    for (const path of this.paths) {
      if (signal.aborted) return;
      const raw: Readable = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
      let stream = raw;
      if (path.endsWith('.gz')) {
        const gunzip = createGunzip();
        raw.on('error', (err) => gunzip.destroy(err)); // .pipe() does not pass read errors on
        stream = raw.pipe(gunzip);
      }
      await new StdinInput({ stream, origin: path === '-' ? 'stdin' : path, maxLineBytes: this.maxLineBytes }).run(sink, signal).catch((err: NodeJS.ErrnoException) => {
        // A read or gzip error (not one of the sink's) names the file.
        if (err.code !== undefined && (err.code.startsWith('Z_') || err.syscall === 'read')) throw new Error(`cannot read ${path}: ${err.message}`);
        throw err;
      });
    }
  }
}
