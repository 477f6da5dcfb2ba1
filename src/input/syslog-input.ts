import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { chmod, lstat, readFile, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { newInputCounters, type ChunkSink, type InputCounters, type LineInput } from './line-chunk.js';

/**
 * Lines that nginx sends with `access_log syslog:server=…`: one datagram per line, with an
 * RFC 3164 style header `<190>Nov 26 16:00:00 hostname nginx: ` (no hostname with
 * `nohostname`; the tag from `tag=`), which is stripped. Datagrams without such a header are
 * delivered whole and counted in `datagramsUnparsed`.
 *
 * Listens on UDP (`127.0.0.1:5140`, `[::1]:5140`; port 514 if none is given, as nginx
 * defaults) or on a unix datagram socket (`unix:/run/nginx-otel.sock`). UDP on 127.0.0.1
 * is the recommended way. Node has no unix datagram sockets: `unix:` needs the optional
 * native package `unix-dgram` (built from source on install: a compiler and Python in the
 * image, and npm 11 asks to approve its install script); without it `unix:` fails with a
 * clear message. Even with it, a unix datagram socket queues at most
 * net.unix.max_dgram_qlen datagrams (10 by default: measured, 44 % of 2000 lines from 8
 * concurrent clients were not sent, nginx logging "send() to syslog failed"; none with
 * 512), so `unix:` warns when that sysctl is below 512. (A FIFO is no alternative: nginx
 * writes its log with blocking write(), so a slow or absent reader stalls nginx itself.)
 *
 * UDP has no backpressure: datagrams are queued in memory while the sink is busy, at most
 * `maxQueuedLines`; beyond that they are dropped and counted in `linesDropped` (the kernel
 * also drops when the socket buffer is full: raise `recvBufferBytes` and
 * net.core.rmem_max). A line must fit one datagram: nginx cannot send an access log line
 * over about 64 KiB by UDP (the file input has no such limit).
 */
export interface SyslogInputOptions {
  /** nginx's `server=` value (`127.0.0.1:5140`, `unix:/path`), or the whole `syslog:server=…,tag=…`. */
  listen: string;
  /** Default 4096. */
  maxLinesPerChunk?: number;
  /** Default 200000. */
  maxQueuedLines?: number;
  /** UDP: SO_RCVBUF to ask for (the kernel caps it at net.core.rmem_max); default 8 MiB. */
  recvBufferBytes?: number;
  /** Unix: mode of the socket file, so nginx workers (another user) can send; default 0o666. */
  socketMode?: number;
  warn?: (message: string) => void;
}

export type SyslogAddress = { kind: 'udp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseSyslogAddress(spec: string): SyslogAddress {
  let s = spec.trim();
  if (s.startsWith('syslog:')) {
    const server = s
      .slice('syslog:'.length)
      .split(',')
      .find((p) => p.startsWith('server='));
    if (server === undefined) throw new Error(`no server= in ${spec}`);
    s = server.slice('server='.length);
  }
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    if (path === '') throw new Error(`empty unix socket path in ${spec}`);
    return { kind: 'unix', path };
  }
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (m === null) m = /^([^:\s]+)(?::(\d+))?$/.exec(s);
  if (m === null) throw new Error(`cannot read syslog address ${spec} (expected host:port or unix:/path)`);
  const port = m[2] === undefined ? 514 : Number(m[2]);
  if (!(port >= 0 && port < 65536)) throw new Error(`bad port in ${spec}`); // 0: any free port (tests)
  return { kind: 'udp', host: m[1], port };
}

const TIMESTAMP = /[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d /y;

/** The message of an RFC 3164 style datagram as nginx sends it, or undefined if it has no such header. */
export function stripSyslogHeader(s: string): string | undefined {
  if (s.charCodeAt(0) !== 60 /* < */) return undefined;
  let i = 1;
  while (i < 5 && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 1 || s.charCodeAt(i) !== 62 /* > */) return undefined;
  i++;
  TIMESTAMP.lastIndex = i;
  if (!TIMESTAMP.test(s)) return undefined;
  i += 16;
  const colon = s.indexOf(': ', i);
  if (colon === -1 || colon - i > 300) return undefined;
  // between the timestamp and ": " there is `hostname tag` or just `tag`: at most one space
  const head = s.slice(i, colon);
  const sp = head.indexOf(' ');
  if (sp !== -1 && head.indexOf(' ', sp + 1) !== -1) return undefined;
  return s.slice(colon + 2);
}

interface DatagramSocket extends EventEmitter {
  close(): void;
}

export class SyslogInput implements LineInput {
  readonly counters: InputCounters = newInputCounters();
  readonly address: SyslogAddress;
  private readonly options: SyslogInputOptions;
  private socket: DatagramSocket | UdpSocket | undefined;
  private queue: string[] = [];
  private wake: (() => void) | undefined;
  private ready!: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;

  constructor(options: SyslogInputOptions) {
    this.options = options;
    this.address = parseSyslogAddress(options.listen);
    this.resetReady();
  }

  /** Resolves once the socket is bound (for tests and start-up logs); rejects if binding failed. */
  listening(): Promise<void> {
    return this.ready;
  }

  /** The bound UDP port (useful with port 0). */
  port(): number | undefined {
    if (this.address.kind !== 'udp' || this.socket === undefined) return undefined;
    return (this.socket as UdpSocket).address().port;
  }

  async run(sink: ChunkSink, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const origin = this.address.kind === 'unix' ? `syslog unix:${this.address.path}` : `syslog ${this.address.host}:${this.address.port}`;
    const maxLines = this.options.maxLinesPerChunk ?? 4096;
    let failure: Error | undefined;
    const onAbort = (): void => this.wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.socket = await this.bind((err) => {
        failure ??= err;
        this.wake?.();
      });
      this.resolveReady();
      while (!signal.aborted && failure === undefined) {
        if (this.queue.length === 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        let lines: string[];
        if (this.queue.length <= maxLines) {
          lines = this.queue;
          this.queue = [];
        } else {
          lines = this.queue.splice(0, maxLines);
        }
        this.counters.linesRead += lines.length;
        await sink({ lines, origin });
      }
      if (failure !== undefined) throw failure;
    } catch (err) {
      this.rejectReady(err as Error);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await this.close();
    }
  }

  private onDatagram(buf: Buffer): void {
    this.counters.datagramsReceived++;
    this.counters.bytesRead += buf.length;
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 10) end--;
    const text = buf.toString('utf8', 0, end);
    let line = stripSyslogHeader(text);
    if (line === undefined) {
      this.counters.datagramsUnparsed++;
      line = text;
    }
    if (this.queue.length >= (this.options.maxQueuedLines ?? 200_000)) {
      this.counters.linesDropped++;
      return;
    }
    this.queue.push(line);
    this.wake?.();
  }

  private async bind(onError: (err: Error) => void): Promise<DatagramSocket | UdpSocket> {
    const addr = this.address;
    if (addr.kind === 'udp') {
      const socket = createSocket({ type: addr.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: this.options.recvBufferBytes ?? 8 * 1024 * 1024 });
      socket.on('message', (buf) => this.onDatagram(buf));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(addr.port, addr.host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.on('error', onError);
      return socket;
    }
    const unixDgram = loadUnixDgram();
    const qlen = await readFile('/proc/sys/net/unix/max_dgram_qlen', 'utf8').then(Number, () => NaN);
    if (qlen < 512) {
      this.options.warn?.(`net.unix.max_dgram_qlen is ${qlen}: nginx will fail to send (and lose) lines whenever more than ${qlen} wait; ` +
        `raise it (sysctl -w net.unix.max_dgram_qlen=512, before this socket is created) or use UDP on 127.0.0.1`);
    }
    await removeStaleSocket(addr.path);
    const socket = unixDgram.createSocket('unix_dgram', (buf: Buffer) => this.onDatagram(buf));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('listening', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.bind(addr.path);
    });
    socket.on('error', onError);
    await chmod(addr.path, this.options.socketMode ?? 0o666);
    return socket;
  }

  private async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s === undefined) return;
    try {
      s.close();
    } catch {
      // already closed
    }
    if (this.address.kind === 'unix') await unlink(this.address.path).catch(() => {});
  }

  private resetReady(): void {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
  }
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram', listener: (buf: Buffer) => void): DatagramSocket & { bind(path: string): void };
}

function loadUnixDgram(): UnixDgramModule {
  try {
    return createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
  } catch (err) {
    throw new Error(
      `syslog on a unix socket needs the optional native package unix-dgram (npm install unix-dgram; it builds with node-gyp), ` +
        `or let nginx send to UDP instead: access_log syslog:server=127.0.0.1:5140 … (${(err as Error).message.split('\n')[0]})`,
    );
  }
}

/** Removes a socket file left by an earlier run; refuses to remove anything that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
