/**
 * Reads the analyze command's inputs line by line: log files, gzip-compressed files
 * (recognised by their magic bytes, whatever their name; concatenated members as written
 * by `cat a.gz b.gz` are read through), and `-` for standard input (which may be gzip too).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** An input that cannot be read; the message is one sentence for the user. */
export class InputError extends Error {
  override name = 'InputError';
}

export interface CheckedInput {
  /** The path as given, or `-`. */
  path: string;
  /** Size in bytes for files (compressed size for gzip files); undefined for stdin. */
  size?: number;
}

/** Checks every input exists and is a file before any is read (so a typo fails fast). */
export async function checkInputs(paths: readonly string[]): Promise<CheckedInput[]> {
  const checked: CheckedInput[] = [];
  let stdinSeen = false;
  for (const path of paths) {
    if (path === '-') {
      if (stdinSeen) throw new InputError('Standard input (-) can be given only once.');
      stdinSeen = true;
      checked.push({ path });
      continue;
    }
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new InputError(code === 'ENOENT' ? `Cannot read ${path}: no such file.` : `Cannot read ${path}: ${(err as Error).message}.`);
    }
    if (info.isDirectory()) throw new InputError(`Cannot read ${path}: it is a directory, not a log file.`);
    checked.push({ path, size: info.size });
  }
  return checked;
}

export interface LineReadOptions {
  /** Used for `-`. */
  stdin: Readable;
  /** Called after each chunk with the input bytes consumed so far (compressed bytes for gzip). */
  onBytes?: (bytesSoFar: number) => void;
}

/**
 * Calls `onLine` for every line of `path` (without its `\n` or `\r\n`; empty lines are
 * skipped). Resolves at the end of the input; rejects with InputError when reading fails.
 */
export async function forEachLine(path: string, onLine: (line: string) => void, options: LineReadOptions): Promise<void> {
  const raw: Readable = path === '-' ? options.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  const origin = path === '-' ? 'standard input' : path;
  try {
    const first = await peek(raw);
    if (first === undefined) return;
    const gzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
    if (gzip) {
      const gunzip = createGunzip();
      raw.on('error', (err) => gunzip.destroy(err));
      raw.pipe(gunzip);
      await splitLines(gunzip, onLine, () => options.onBytes?.(gunzip.bytesWritten));
    } else {
      let bytes = 0;
      await splitLines(raw, onLine, (n) => options.onBytes?.((bytes += n)));
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || e.code === 'Z_NEED_DICT') {
      throw new InputError(`Cannot read ${origin}: it looks gzip-compressed but is corrupt or truncated (${e.message}).`);
    }
    throw new InputError(`Cannot read ${origin}: ${e.message}.`);
  }
}

/** Waits for the first chunk, puts it back, and returns it (undefined for an empty input). */
async function peek(stream: Readable): Promise<Buffer | undefined> {
  for (;;) {
    if (stream.readableEnded) return undefined;
    const chunk = stream.read() as Buffer | string | null;
    if (chunk !== null) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      stream.unshift(buffer);
      return buffer;
    }
    const ended = await new Promise<boolean>((resolve, reject) => {
      const cleanup = (): void => {
        stream.off('readable', onReadable);
        stream.off('end', onEnd);
        stream.off('error', onError);
      };
      const onReadable = (): void => { cleanup(); resolve(false); };
      const onEnd = (): void => { cleanup(); resolve(true); };
      const onError = (err: Error): void => { cleanup(); reject(err); };
      stream.on('readable', onReadable);
      stream.on('end', onEnd);
      stream.on('error', onError);
    });
    if (ended) return undefined;
  }
}

/**
 * Splits into lines. Bytes are decoded as latin1 (one character per byte): every field the
 * analysis reads is ASCII, and both parsers accept any other character, so this gives the
 * same results as UTF-8 while costing a plain copy and never splitting a character.
 */
async function splitLines(stream: Readable, onLine: (line: string) => void, onChunk: (bytes: number) => void): Promise<void> {
  let carry = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    // A stream with an encoding set hands over strings already.
    const text = carry + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      let end = nl;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      if (end > start) onLine(text.slice(start, end));
      start = nl + 1;
    }
    carry = start === 0 ? text : text.slice(start);
    onChunk(chunk.length);
  }
  if (carry.endsWith('\r')) carry = carry.slice(0, -1);
  if (carry.length > 0) onLine(carry);
}
