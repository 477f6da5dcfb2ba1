import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ResumePosition } from '../input/line-chunk.js';

/**
 * Where each followed file was acknowledged up to, kept in one small JSON file:
 *
 *   {"version":1,"files":[{"path":"/var/log/nginx/access.log","fileKey":"2049:1234:1024.ab12…","offset":8812,"updatedAt":"…"}]}
 *
 * `path` is the path the input follows (not the rotated name the bytes may be in now),
 * `fileKey` the identity of the file the offset is in (see file-tail.ts), `offset` the
 * byte after the last acknowledged line. Positions enter only through `update`, which the
 * input calls from its `acknowledge` (after the collector acknowledged); they reach the
 * disk on `flush` (on a timer after `startAutoFlush`, and on `close`), written atomically:
 * temporary file, fsync, rename over the old one, fsync of the directory. A crash loses
 * at most the last flush interval of progress, which means re-sent lines, never lost ones.
 */
export interface CheckpointEntry {
  path: string;
  fileKey: string;
  offset: number;
  updatedAt?: string;
}

/** What an input needs of the store. */
export interface CheckpointAccess {
  get(path: string): ResumePosition | undefined;
  update(position: ResumePosition): void;
}

export class CheckpointStore implements CheckpointAccess {
  private readonly entries = new Map<string, CheckpointEntry>();
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Flushes that wrote the file, and those that failed (the error is in `lastError`). */
  readonly stats = { writes: 0, writeErrors: 0 };
  lastError: Error | undefined;

  private constructor(readonly file: string) {}

  /**
   * Loads `file` if it exists. A file that is not valid JSON of the expected shape is set
   * aside as `<file>.corrupt-<time>` and reported through `warn`; the store then starts empty
   * (the inputs fall back to `--start-at`).
   */
  static async open(file: string, warn: (message: string) => void = () => {}): Promise<CheckpointStore> {
    const store = new CheckpointStore(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw err;
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; files?: unknown };
      if (doc.version !== 1 || !Array.isArray(doc.files)) throw new Error('not a version 1 checkpoint file');
      for (const e of doc.files as Partial<CheckpointEntry>[]) {
        if (typeof e.path !== 'string' || typeof e.fileKey !== 'string' || !Number.isSafeInteger(e.offset) || (e.offset as number) < 0) {
          throw new Error(`bad entry ${JSON.stringify(e)}`);
        }
        store.entries.set(e.path, { path: e.path, fileKey: e.fileKey, offset: e.offset as number, updatedAt: e.updatedAt });
      }
    } catch (err) {
      const aside = `${file}.corrupt-${Date.now()}`;
      await rename(file, aside).catch(() => {});
      store.entries.clear();
      warn(`checkpoint file ${file} is unreadable (${(err as Error).message}); moved to ${aside}, starting without checkpoints`);
    }
    return store;
  }

  get(path: string): ResumePosition | undefined {
    const e = this.entries.get(path);
    return e === undefined ? undefined : { path: e.path, fileKey: e.fileKey, offset: e.offset };
  }

  all(): CheckpointEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  update(position: ResumePosition): void {
    const old = this.entries.get(position.path);
    if (old !== undefined && old.fileKey === position.fileKey && old.offset === position.offset) return;
    this.entries.set(position.path, {
      path: position.path,
      fileKey: position.fileKey,
      offset: position.offset,
      updatedAt: new Date().toISOString(),
    });
    this.dirty = true;
  }

  /** Forgets a path (no longer followed). */
  delete(path: string): void {
    if (this.entries.delete(path)) this.dirty = true;
  }

  /** Writes the file if anything changed since the last write. Concurrent calls are serialised. */
  flush(): Promise<void> {
    const next = this.writing.then(() => this.writeIfDirty());
    this.writing = next.catch(() => {});
    return next;
  }

  /** Flushes every `intervalMs` (errors are counted and kept in `lastError`, not thrown). */
  startAutoFlush(intervalMs = 1000): void {
    this.stopAutoFlush();
    this.timer = setInterval(() => {
      this.flush().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  stopAutoFlush(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    this.stopAutoFlush();
    await this.flush();
  }

  private async writeIfDirty(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const doc = { version: 1, files: [...this.entries.values()] };
    try {
      await writeAtomically(this.file, `${JSON.stringify(doc, null, 1)}\n`);
      this.stats.writes++;
      this.lastError = undefined;
    } catch (err) {
      this.dirty = true;
      this.stats.writeErrors++;
      this.lastError = err as Error;
      throw err;
    }
  }
}

/** temp file in the same directory + fsync + rename + fsync of the directory. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  } finally {
    await dh.close();
  }
}
