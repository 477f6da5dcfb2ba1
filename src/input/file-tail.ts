import { createHash } from 'node:crypto';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { CheckpointAccess } from '../deliver/checkpoint-store.js';
import { newInputCounters, type ChunkSink, type InputCounters, type LineInput, type ResumePosition } from './line-chunk.js';
import { DEFAULT_MAX_LINE_BYTES, LineSplitter, type LineBatch } from './line-splitter.js';

/**
 * Follows one path, the way nginx writes it, through rename and copytruncate rotation.
 *
 * Reading: one held file descriptor, large positional reads, lines cut by `LineSplitter`,
 * chunks of up to `maxLinesPerChunk` lines, and the sink awaited before anything more is
 * read (backpressure: the file is the buffer). The file is polled every `pollIntervalMs`
 * (change events are not trusted); while data is there it is read without pause, and the
 * path is still checked every poll interval so rapid rotations are not missed.
 *
 * Identity: `fileKey` = `${dev}:${ino}:${n}.${hash}`, the hash (sha256, 16 hex digits) of the
 * first n bytes, n = min(size, fingerprintBytes). The fingerprint grows with a file until it
 * covers `fingerprintBytes` (so a key saved while the file was small still names it: a file
 * matches a key when the hash of its first n bytes is the key's). A file matches a key when
 * the hashes match and either dev:ino match too or the fingerprint covers at least 64 bytes
 * (then the content decides: that is how a copytruncate copy, which has another inode, is
 * recognised; 64 bytes hold a timestamp in any useful log format). Inode reuse after a
 * rotation gives different first bytes, so it is not mistaken for the old file. A file
 * that is still empty has an empty fingerprint: its identity is then dev:ino alone.
 *
 * Rename rotation: whenever the path points to a file not yet known, that file is opened at
 * once and queued (so two rotations in quick succession lose nothing). The file being read
 * is left for the next one only when it is read to its end, has not grown for
 * `rotateGraceMs` since the later file appeared, and the later file has data (nginx writes
 * into the new file only after it reopened; with a `create`d empty file and no reopen yet,
 * the old file is still the live one).
 *
 * Copytruncate: the file shrinking below the read offset, or its first bytes changing, is a
 * truncation. The size is seen every poll; the first bytes are checked every poll and also
 * after every read that returned data, before any of it is used: a file truncated and
 * regrown past the read offset between two polls would otherwise hand over new content as
 * the continuation of the old (a partial line glued to the middle of a new one, lines read
 * twice). When the check fails, that read is dropped and the partial line held is forgotten.
 * The unread tail of the old content is then looked for in a sibling whose first bytes are
 * the old fingerprint (the copy, e.g. `access.log.1`) and read first, from the last line
 * start; then the truncated file from 0. Lines written between the copy and the truncation
 * are gone for every reader (copytruncate's known gap) and are not counted.
 *
 * Several copytruncates before the reader gets to the file (the sink held it, e.g. a long
 * collector outage): every poll, also while the sink blocks, the watch reads the first
 * bytes of each file nginx may write and remembers each new content it sees there. On the
 * truncation, after the copy of the old content, a sibling is looked for whose first bytes
 * match each remembered content the file no longer has, oldest first, and read whole; then
 * the file from 0. Limits: only contents the watch saw can be found, so one that began and
 * was copied away within one poll interval is not read (nothing in the file says it
 * existed: its copy stays on disk, unread, not counted); a content seen with fewer than 64
 * bytes is counted but cannot be recognised by its first bytes, its copy is not read either;
 * the remembered contents and queued copies are not checkpointed (after a restart only the
 * checkpointed file is looked for, as below).
 *
 * Checkpoints: each chunk's `resume` is the position after its last line; `acknowledge`
 * passes it to the store (only the pipeline calls it, after the collector acknowledged). On
 * start, a checkpointed path resumes at its offset when the path's file matches the key;
 * otherwise the file is looked for among the files in the same directory (renamed or
 * copied while the sidecar was down): its unread tail is read first, then the path's file
 * from 0. Not found: the path's file from 0, counted in `checkpointMisses`.
 */
export interface FileTailOptions {
  /** The path nginx writes (also the checkpoint's key). */
  path: string;
  /** Where to start in a file that has no checkpoint; default 'end' (at the last line start). */
  startAt?: 'end' | 'beginning';
  checkpoint?: CheckpointAccess;
  /** Default 250. */
  pollIntervalMs?: number;
  /** How long a rotated file must stay quiet before it is left; default 5000. */
  rotateGraceMs?: number;
  /** Bytes per positional read; default 1 MiB. */
  readBufferBytes?: number;
  /** Default 4096. */
  maxLinesPerChunk?: number;
  /** Lines longer than this are cut to it; default 1 MiB. */
  maxLineBytes?: number;
  /** Default 1024. */
  fingerprintBytes?: number;
  /** Shared counters (several tailers may add to one object); a new one if absent. */
  counters?: InputCounters;
  warn?: (message: string) => void;
}

interface TailFile {
  fh: FileHandle | undefined;
  /** `${dev}:${ino}` */
  id: string;
  /** Path it was opened under (for error reports). */
  origin: string;
  fpLen: number;
  fpHash: string;
  key: string;
  /** Every key positions of this file were issued with (the fingerprint grows). */
  keys: Set<string>;
  /** Size at the last poll. */
  size: number;
  /** Next read offset. */
  pos: number;
  /** Offset after the last line emitted. */
  lineStart: number;
  /** When the size last grew (ms, monotonic). */
  lastGrowth: number;
  /** When a later file appeared at the path. */
  supersededAt: number | undefined;
  /** A copytruncate copy: nobody writes to it, left as soon as it is read. */
  isCopy: boolean;
  /** Acknowledged offset (for lag). */
  acked: number;
  /**
   * Contents this file was seen to have after its own (copytruncate) that the reader has not
   * handled yet, oldest first: the first bytes of each, as the watch saw them (a copy of each
   * may hold lines the reader has not read).
   */
  later: Fingerprint[];
}

interface Fingerprint {
  fpLen: number;
  fpHash: string;
}

interface ParsedKey extends Fingerprint {
  id: string;
}

const now = (): number => performance.now();

export class FileTail implements LineInput {
  readonly counters: InputCounters;
  readonly path: string;
  private readonly startAt: 'end' | 'beginning';
  private readonly checkpoint: CheckpointAccess | undefined;
  private readonly pollMs: number;
  private readonly graceMs: number;
  private readonly maxLines: number;
  private readonly fpMax: number;
  /** A fingerprint this long identifies a file by content alone (a copy has another inode). */
  private readonly minContentFp: number;
  private readonly warn: (message: string) => void;
  private readonly buf: Buffer;
  private readonly splitter: LineSplitter;
  /** chain[0] is being read; later ones appeared at the path after it, in order. */
  private chain: TailFile[] = [];
  /** Files left (or replaced by a truncation) whose positions may still be acknowledged. */
  private retired: TailFile[] = [];
  private lastCheck = 0;
  private lastWatch = 0;
  private watching: Promise<void> | undefined;
  /** The watch (from the timer too) and truncation handling run one at a time: both change the chain. */
  private exclusive: Promise<unknown> = Promise.resolve();

  constructor(options: FileTailOptions) {
    this.path = options.path;
    this.startAt = options.startAt ?? 'end';
    this.checkpoint = options.checkpoint;
    this.pollMs = options.pollIntervalMs ?? 250;
    this.graceMs = options.rotateGraceMs ?? 5000;
    this.maxLines = options.maxLinesPerChunk ?? 4096;
    this.fpMax = options.fingerprintBytes ?? 1024;
    this.minContentFp = Math.min(this.fpMax, 64);
    this.counters = options.counters ?? newInputCounters();
    this.warn = options.warn ?? (() => {});
    this.buf = Buffer.allocUnsafe(options.readBufferBytes ?? 1024 * 1024);
    this.splitter = new LineSplitter(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  }

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!(await this.openInitial(signal))) return;
      // While the sink holds the loop (backpressure), keep watching the path and the sizes,
      // so rotations are queued and the lag is current.
      timer = setInterval(() => {
        if (now() - this.lastWatch >= this.pollMs) this.watch().catch((err: unknown) => this.warn(`${this.path}: ${(err as Error).message}`));
      }, this.pollMs);
      timer.unref();
      while (!signal.aborted) {
        if (now() - this.lastCheck >= this.pollMs) await this.check();
        const head = this.chain[0];
        const { bytesRead } = await head.fh!.read(this.buf, 0, this.buf.length, head.pos);
        if (bytesRead > 0) {
          // Data past the old offset is the old content only if the first bytes are still the
          // fingerprinted ones after the read (truncated and regrown meanwhile: the read
          // returned new content, which is dropped here and read again from its start).
          if (!(await this.refreshFingerprint(head))) {
            await this.onTruncated(head);
            continue;
          }
          await this.consume(head, bytesRead, sink, signal);
          continue;
        }
        if (this.chain.length > 1 && this.mayLeave(head)) {
          this.leaveHead();
          continue;
        }
        await sleep(this.pollMs, signal);
        this.lastCheck = 0;
      }
    } finally {
      clearInterval(timer);
      await this.watching?.catch(() => {});
      for (const f of this.chain) await closeFile(f);
    }
  }

  acknowledge(position: ResumePosition): void {
    this.checkpoint?.update(position);
    const inChain = this.chain.find((f) => f.keys.has(position.fileKey));
    if (inChain !== undefined) {
      inChain.acked = position.offset;
      this.retired = [];
      return;
    }
    const old = this.retired.find((f) => f.keys.has(position.fileKey));
    if (old !== undefined) old.acked = position.offset;
  }

  /** Bytes in the followed files past the acknowledged offsets, as of the last poll. */
  lagBytes(): number {
    let lag = 0;
    for (const f of this.retired) lag += Math.max(0, f.size - f.acked);
    for (const f of this.chain) lag += Math.max(0, f.size - f.acked);
    return lag;
  }

  /** The most bytes of one unterminated line ever held (never more than maxLineBytes). */
  maxHeldLineBytes(): number {
    return this.splitter.maxHeldBytes;
  }

  /** Files currently held open (the one being read first). For tests and diagnostics. */
  heldFiles(): { origin: string; fileKey: string; offset: number; size: number }[] {
    return this.chain.map((f) => ({ origin: f.origin, fileKey: f.key, offset: f.lineStart, size: f.size }));
  }

  // --- reading ---------------------------------------------------------------------------

  private async consume(head: TailFile, n: number, sink: ChunkSink, signal: AbortSignal): Promise<void> {
    const bufStart = head.pos;
    head.pos += n;
    if (head.pos > head.size) {
      head.size = head.pos;
      head.lastGrowth = now();
    }
    this.counters.bytesRead += n;
    const view = this.buf.subarray(0, n);
    let i = 0;
    while (i < n) {
      const out: LineBatch = { lines: [], truncated: [] };
      i = this.splitter.push(view, i, out, this.maxLines);
      if (out.lines.length === 0) continue;
      const offset = bufStart + i - this.splitter.pendingBytes;
      const startOffset = head.lineStart;
      head.lineStart = offset;
      this.counters.linesRead += out.lines.length;
      this.counters.linesTruncated += out.truncated.length;
      await sink({
        lines: out.lines,
        resume: { fileKey: head.key, path: this.path, offset },
        startOffset,
        origin: head.origin,
        ...(out.truncated.length > 0 ? { truncated: out.truncated } : {}),
      });
      if (signal.aborted) return;
    }
  }

  private mayLeave(head: TailFile): boolean {
    if (head.isCopy) return true;
    if (head.supersededAt === undefined) return false;
    const next = this.chain[1];
    if (next.size === 0) return false;
    return now() - Math.max(head.lastGrowth, head.supersededAt) >= this.graceMs;
  }

  private leaveHead(): void {
    const old = this.chain.shift()!;
    if (this.splitter.pendingBytes > 0) {
      this.warn(`${old.origin}: left with an unterminated last line of ${this.splitter.pendingBytes} bytes`);
    }
    this.splitter.reset();
    void closeFile(old);
    this.retire(old);
    if (!old.isCopy) this.counters.rotations++;
  }

  private retire(f: TailFile): void {
    if (f.acked < f.size) this.retired.push(f);
  }

  // --- polling -------------------------------------------------------------------------

  /** Every poll interval from the read loop: sizes, the path, truncation, fingerprints. */
  private async check(): Promise<void> {
    this.lastCheck = now();
    await this.watch();
    const head = this.chain[0];
    if (head.size < head.pos || head.later.length > 0 || !(await this.refreshFingerprint(head))) {
      await this.onTruncated(head);
    }
    for (let k = 1; k < this.chain.length; k++) await this.refreshFingerprint(this.chain[k]);
  }

  /** Sizes of the held files and the path's file; one at a time (from the loop and the timer). */
  private watch(): Promise<void> {
    this.watching ??= this.serialized(() => this.watchOnce()).finally(() => {
      this.watching = undefined;
    });
    return this.watching;
  }

  private async watchOnce(): Promise<void> {
    this.lastWatch = now();
    for (const f of [...this.chain]) {
      const fh = f.fh;
      if (fh === undefined) continue;
      const { fpLen, fpHash, pos } = f; // as of before the stat (the loop may read on meanwhile)
      let size: number;
      let prefix: Buffer | undefined;
      try {
        size = Number((await fh.stat({ bigint: true })).size);
        if (!f.isCopy) prefix = await readPrefix(fh, this.fpMax);
      } catch (err) {
        if (f.fh === undefined) continue; // closed meanwhile (left for the next file)
        throw err;
      }
      // The loop read past this (older) size meanwhile: it is stale, not a truncation. A real
      // one shows next poll, or in the first bytes now.
      if (f.pos !== pos) size = Math.max(size, f.pos);
      if (size > f.size) f.lastGrowth = now();
      f.size = size;
      if (prefix !== undefined && (prefix.length < fpLen || hashOf(prefix, fpLen) !== fpHash)) this.noteLater(f, prefix);
    }
    await this.lookAtPath();
  }

  /**
   * `f`'s first bytes are no longer its own (copytruncate, not handled yet): remembers them,
   * as a new content unless they continue the last one remembered (then it grows).
   */
  private noteLater(f: TailFile, prefix: Buffer): void {
    if (prefix.length === 0) return; // empty: nothing to recognise a copy by
    const last = f.later.at(-1);
    if (last !== undefined && prefix.length >= last.fpLen && hashOf(prefix, last.fpLen) === last.fpHash) {
      last.fpLen = prefix.length;
      last.fpHash = hashOf(prefix, prefix.length);
    } else {
      f.later.push({ fpLen: prefix.length, fpHash: hashOf(prefix, prefix.length) });
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn);
    this.exclusive = run.catch(() => {});
    return run;
  }

  /** Grows the fingerprint if the file grew; false if the first bytes are no longer the fingerprinted ones. */
  private async refreshFingerprint(f: TailFile): Promise<boolean> {
    if (f.fpLen === this.fpMax && f.size >= this.fpMax) {
      // complete: verify (cheap: one small read per poll)
      const prefix = await readPrefix(f.fh!, this.fpMax);
      return prefix.length === this.fpMax && hashOf(prefix, this.fpMax) === f.fpHash;
    }
    if (f.size < f.fpLen) return false;
    const prefix = await readPrefix(f.fh!, Math.min(this.fpMax, f.size));
    const n = prefix.length;
    if (n < f.fpLen || hashOf(prefix, f.fpLen) !== f.fpHash) return false;
    if (n > f.fpLen) {
      f.fpLen = n;
      f.fpHash = hashOf(prefix, n);
      f.key = `${f.id}:${n}.${f.fpHash}`;
      f.keys.add(f.key);
    }
    return true;
  }

  private onTruncated(head: TailFile): Promise<void> {
    return this.serialized(() => this.onTruncatedNow(head));
  }

  /**
   * The head's content was replaced. Queues, in order: the copy of the old content (from the
   * last line start), a copy of each content the watch saw in between (whole), the file itself
   * (from 0).
   */
  private async onTruncatedNow(head: TailFile): Promise<void> {
    const resumeAt = head.lineStart;
    const copies: TailFile[] = [];
    const copy = await this.findSibling({ id: head.id, fpLen: head.fpLen, fpHash: head.fpHash }, resumeAt, true, copies);
    if (copy !== undefined) {
      copy.pos = copy.lineStart = copy.acked = resumeAt;
      copies.push(copy);
      this.warn(`${this.path}: truncated (copytruncate); reading the rest of ${copy.origin} from byte ${resumeAt} first`);
    } else {
      this.warn(`${this.path}: truncated (copytruncate); no copy found with unread lines, reading it again from the start`);
    }
    this.splitter.reset();
    // The truncated file gets a new record (new fingerprint, new key); the old one is retired.
    const fresh = await this.describe(head.fh!, head.origin, head.id);
    fresh.supersededAt = head.supersededAt;
    // Contents seen in between (each truncated in turn): everything before the one the file still has.
    let truncations = 1;
    for (const seen of head.later) {
      if (await this.matches(fresh, { id: head.id, ...seen })) break;
      truncations++;
      const between = seen.fpLen >= this.minContentFp ? await this.findSibling({ id: head.id, ...seen }, 0, true, copies) : undefined;
      if (between !== undefined) {
        copies.push(between);
        this.warn(`${this.path}: truncated again meanwhile; reading ${between.origin} (the content in between) next`);
      } else {
        this.warn(`${this.path}: truncated again meanwhile; no copy found of the content in between (its lines are not read)`);
      }
    }
    this.counters.truncations += truncations;
    for (const c of copies) c.isCopy = true;
    head.fh = undefined;
    head.size = head.lineStart; // what is known of the old content
    this.retire(head);
    this.chain.splice(0, 1, ...copies, fresh);
  }

  /** If the path now names a file not in the chain, opens and queues it. */
  private async lookAtPath(): Promise<void> {
    const id = await statId(this.path);
    if (id === undefined || this.chain.some((f) => f.id === id)) return;
    const f = await this.openFile(this.path);
    if (f === undefined) return;
    if (this.chain.some((c) => c.id === f.id)) {
      await closeFile(f);
      return;
    }
    const last = this.chain[this.chain.length - 1];
    last.supersededAt = now();
    if (last.origin === this.path) last.origin = `${this.path} (rotated)`;
    this.chain.push(f);
  }

  // --- opening -------------------------------------------------------------------------

  /** Waits for the path, then sets up the chain from the checkpoint or `startAt`. */
  private async openInitial(signal: AbortSignal): Promise<boolean> {
    let f: TailFile | undefined;
    let waited = false;
    while (!signal.aborted) {
      f = await this.openFile(this.path);
      if (f !== undefined) break;
      waited = true;
      await sleep(this.pollMs, signal);
    }
    if (f === undefined) return false;
    const saved = this.checkpoint?.get(this.path);
    const key = saved === undefined ? undefined : parseKey(saved.fileKey);
    if (saved !== undefined && key !== undefined) {
      if ((await this.matches(f, key)) && f.size >= saved.offset) {
        f.pos = f.lineStart = f.acked = saved.offset;
        this.chain = [f];
        return true;
      }
      const sib = await this.findSibling(key, saved.offset, false);
      if (sib !== undefined) {
        sib.pos = sib.lineStart = sib.acked = saved.offset;
        sib.isCopy = sib.id !== key.id;
        sib.supersededAt = now();
        this.chain = [sib, f];
        this.warn(`${this.path}: rotated while stopped; reading the rest of ${sib.origin} from byte ${saved.offset} first`);
        return true;
      }
      if (f.id === key.id) this.counters.truncations++;
      else this.counters.checkpointMisses++;
      this.warn(`${this.path}: the checkpointed file (${saved.fileKey}) is gone; reading the current file from the start`);
      this.chain = [f];
      this.checkpoint?.update({ fileKey: f.key, path: this.path, offset: 0 });
      return true;
    }
    // A file that appeared after the start is new: all of it is read.
    const start = this.startAt === 'beginning' || waited ? 0 : await lastLineStart(f.fh!, f.size);
    f.pos = f.lineStart = f.acked = start;
    this.chain = [f];
    this.checkpoint?.update({ fileKey: f.key, path: this.path, offset: start });
    return true;
  }

  private async matches(f: TailFile, key: ParsedKey): Promise<boolean> {
    if (f.id !== key.id && key.fpLen < this.minContentFp) return false;
    if (f.size < key.fpLen) return false;
    if (f.fpLen === key.fpLen) return f.fpHash === key.fpHash;
    const prefix = await readPrefix(f.fh!, key.fpLen);
    return prefix.length === key.fpLen && hashOf(prefix, key.fpLen) === key.fpHash;
  }

  /**
   * A file in the path's directory with at least (copies: more than) `minSize` bytes that matches `key` (and is
   * not in the chain): the renamed file (same dev:ino) first, else one whose complete
   * fingerprint matches (a copy), preferring names that start with the path's name. With
   * `copyOnly`, the same dev:ino is not accepted (that is the truncated file itself). Files in
   * `taken` are skipped too.
   */
  private async findSibling(key: ParsedKey, minSize: number, copyOnly: boolean, taken: readonly TailFile[] = []): Promise<TailFile | undefined> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return undefined;
    }
    names.sort((a, b) => Number(b.startsWith(base)) - Number(a.startsWith(base)) || a.localeCompare(b));
    let byContent: string | undefined;
    for (const name of names) {
      if (name === base) continue;
      const p = join(dir, name);
      let st;
      try {
        st = await stat(p, { bigint: true });
      } catch {
        continue;
      }
      if (!st.isFile() || Number(st.size) < minSize) continue;
      const id = `${st.dev}:${st.ino}`;
      if (this.chain.some((f) => f.id === id) || taken.some((f) => f.id === id)) continue;
      if (id === key.id && !copyOnly) {
        // the renamed file (nginx may still write to it, so even one read to its end)
        const f = await this.openFile(p);
        if (f !== undefined && f.id === id && (await this.matches(f, key))) return f;
        if (f !== undefined) await closeFile(f);
      } else if (byContent === undefined && key.fpLen >= this.minContentFp && id !== key.id && Number(st.size) > minSize) {
        if ((await hashFilePrefix(p, key.fpLen)) === key.fpHash) byContent = p;
      }
    }
    if (byContent === undefined) return undefined;
    const f = await this.openFile(byContent);
    if (f !== undefined && (await this.matches(f, key))) return f;
    if (f !== undefined) await closeFile(f);
    return undefined;
  }

  private async openFile(path: string): Promise<TailFile | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) {
        await fh.close();
        throw new Error(`${path} is not a regular file (use the syslog or stdin input for pipes and sockets)`);
      }
      const f = await this.describe(fh, path, `${st.dev}:${st.ino}`);
      this.counters.filesOpened++;
      return f;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** A fresh record for an open file, read position 0. */
  private async describe(fh: FileHandle, origin: string, id: string): Promise<TailFile> {
    const size = Number((await fh.stat({ bigint: true })).size);
    const prefix = await readPrefix(fh, Math.min(size, this.fpMax));
    const n = prefix.length;
    const fpHash = hashOf(prefix, n);
    const key = `${id}:${n}.${fpHash}`;
    return {
      fh,
      id,
      origin,
      fpLen: n,
      fpHash,
      key,
      keys: new Set([key]),
      size,
      pos: 0,
      lineStart: 0,
      lastGrowth: now(),
      supersededAt: undefined,
      isCopy: false,
      acked: 0,
      later: [],
    };
  }
}

// --- helpers -------------------------------------------------------------------------

function parseKey(fileKey: string): ParsedKey | undefined {
  const m = /^(\d+:\d+):(\d+)\.([0-9a-f]+)$/.exec(fileKey);
  if (m === null) return undefined;
  return { id: m[1], fpLen: Number(m[2]), fpHash: m[3] };
}

function hashOf(buf: Buffer, n: number): string {
  return createHash('sha256').update(buf.subarray(0, n)).digest('hex').slice(0, 16);
}

/** The first `n` bytes of the file (fewer if it is shorter), in a buffer of its own (the loop and the watch both call this). */
async function readPrefix(fh: FileHandle, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

async function hashFilePrefix(path: string, n: number): Promise<string | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const prefix = await readPrefix(fh, n);
    return prefix.length === n ? hashOf(prefix, n) : undefined;
  } finally {
    await fh.close();
  }
}

async function statId(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Offset just after the last newline before `size` (looking back at most 1 MiB). */
async function lastLineStart(fh: FileHandle, size: number): Promise<number> {
  if (size === 0) return 0;
  const back = Math.min(size, 1024 * 1024);
  const buf = Buffer.allocUnsafe(back);
  let got = 0;
  while (got < back) {
    const { bytesRead } = await fh.read(buf, got, back - got, size - back + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  const nl = buf.subarray(0, got).lastIndexOf(10);
  if (nl !== -1) return size - back + nl + 1;
  return back === size ? 0 : size;
}

async function closeFile(f: TailFile): Promise<void> {
  const fh = f.fh;
  f.fh = undefined;
  if (fh !== undefined) await fh.close().catch(() => {});
}

async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted
  }
}
