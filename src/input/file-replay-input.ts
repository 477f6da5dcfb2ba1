import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { ChunkSink, LineInput } from './line-chunk.js';

const CHUNK_LINES = 1024;

/** Reads whole files once (`replay`, `analyze`): plain or gzip'd (by the `.gz` suffix), or `-` for stdin. */
export class FileReplayInput implements LineInput {
  constructor(private readonly paths: string[]) {}

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    for (const path of this.paths) {
      if (path !== '-') await access(path).catch(() => { throw new Error(`cannot read ${path}: no such file or no permission`); });
    }
    for (const path of this.paths) {
      if (signal.aborted) return;
      const raw = path === '-' ? process.stdin : createReadStream(path);
      const stream = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
      const origin = path === '-' ? 'stdin' : path;
      let lines: string[] = [];
      for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
        lines.push(line);
        if (lines.length === CHUNK_LINES) {
          await sink({ lines, origin });
          lines = [];
          if (signal.aborted) return;
        }
      }
      if (lines.length > 0) await sink({ lines, origin });
    }
  }
}
