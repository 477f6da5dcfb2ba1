/**
 * A small HTTP upstream for tests: listens on 127.0.0.1:<port> (or any host) or on a unix
 * socket, records every request (method, url, headers — notably `traceparent`), and answers
 * with a configurable status / delay / extra headers. Per-request control through the query
 * string is on by default: `?status=404`, `?delay=250` (ms), `?accel=/internal/x` (sends
 * `X-Accel-Redirect`), `?drop=1` (destroys the socket without answering).
 *
 * Also runnable on its own (e.g. inside a network namespace):
 *   node test/support/upstream.ts --host 127.0.0.1 --port 8081 [--socket /tmp/u.sock]
 *        [--status 200] [--delay 0] [--name app]
 * prints `{"listening":"127.0.0.1:8081"}` and then one JSON line per request on stdout.
 * `startUpstreamProcess()` wraps that.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from './cleanup.ts';
import { sleep } from './nginx.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** `headers.traceparent` for convenience. */
  traceparent?: string;
  tracestate?: string;
  /** Request body as UTF-8 (bodies are small in tests). */
  body: string;
  /** Date.now() when the request head arrived. */
  receivedAt: number;
  /** Which upstream answered (its `name` option). */
  upstream: string;
}

/** What to answer; anything left out falls back to the upstream's defaults. */
export interface UpstreamReply {
  status?: number;
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Destroy the connection instead of answering (nginx sees "upstream prematurely closed"). */
  drop?: boolean;
}

export interface UpstreamOptions {
  /** Listen address (default 127.0.0.1); ignored with socketPath. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Listen on this unix socket path instead (removed first and on stop). */
  socketPath?: string;
  /** Default status (200). */
  status?: number;
  /** Default delay before the response head, in ms (0). */
  delayMs?: number;
  /** Honour ?status=&delay=&accel=&drop= in the URL (default true). */
  queryControl?: boolean;
  /** Decides the reply per request; undefined fields fall back to query/defaults. */
  handler?: (req: RecordedRequest) => UpstreamReply | undefined;
  /** A label recorded with each request and sent back as `X-Upstream` (default the address). */
  name?: string;
}

export interface Upstream {
  /** `127.0.0.1:8081` or `unix:/path.sock` — what nginx logs in $upstream_addr. */
  address: string;
  host: string;
  port: number;
  socketPath?: string;
  name: string;
  requests: RecordedRequest[];
  setStatus(status: number): void;
  setDelay(ms: number): void;
  setHandler(handler: UpstreamOptions['handler']): void;
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Stops accepting and closes open connections, keeping the recorded requests ("closed"). */
  close(): Promise<void>;
  stop(): Promise<void>;
}

function replyFromQuery(url: string): UpstreamReply {
  const q = url.indexOf('?');
  if (q === -1) return {};
  const params = new URLSearchParams(url.slice(q + 1));
  const reply: UpstreamReply = {};
  const status = params.get('status');
  if (status !== null && /^\d{3}$/.test(status)) reply.status = Number(status);
  const delay = params.get('delay');
  if (delay !== null && /^\d+$/.test(delay)) reply.delayMs = Number(delay);
  const accel = params.get('accel');
  if (accel !== null) reply.headers = { 'X-Accel-Redirect': accel };
  if (params.get('drop') === '1') reply.drop = true;
  return reply;
}

export async function startUpstream(options: UpstreamOptions = {}): Promise<Upstream> {
  const host = options.host ?? '127.0.0.1';
  let defaultStatus = options.status ?? 200;
  let defaultDelay = options.delayMs ?? 0;
  let handler = options.handler;
  const queryControl = options.queryControl !== false;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let name = options.name ?? '';

  // Lenient parser: nginx forwards raw bytes (non-ASCII, control characters) in URIs and headers.
  const server: Server = createServer({ insecureHTTPParser: true }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    const receivedAt = Date.now();
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        traceparent: req.headers.traceparent as string | undefined,
        tracestate: req.headers.tracestate as string | undefined,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt,
        upstream: name,
      };
      requests.push(recorded);
      const fromQuery = queryControl ? replyFromQuery(recorded.url) : {};
      const custom = handler?.(recorded) ?? {};
      const reply: UpstreamReply = { ...fromQuery, ...custom, headers: { ...fromQuery.headers, ...custom.headers } };
      const send = (): void => {
        if (reply.drop === true) {
          req.socket.destroy();
          return;
        }
        const status = reply.status ?? defaultStatus;
        const body = reply.body ?? `${name} ${recorded.method} ${recorded.url} -> ${status}\n`;
        res.writeHead(status, { 'Content-Type': 'text/plain', 'X-Upstream': name, ...reply.headers });
        res.end(recorded.method === 'HEAD' ? undefined : body);
      };
      const delay = reply.delayMs ?? defaultDelay;
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  if (options.socketPath !== undefined) rmSync(options.socketPath, { force: true });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    if (options.socketPath !== undefined) server.listen(options.socketPath, () => ok());
    else server.listen(options.port ?? 0, host, () => ok());
  });
  const addr = server.address();
  const port = addr !== null && typeof addr === 'object' ? addr.port : 0;
  const address = options.socketPath !== undefined ? `unix:${options.socketPath}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (name === '') name = address;

  let closed = false;
  const doClose = (): Promise<void> => {
    if (closed) return Promise.resolve();
    closed = true;
    const done = new Promise<void>((ok) => server.close(() => ok()));
    for (const s of sockets) s.destroy();
    return done;
  };
  const cleanup = registerCleanup(`upstream ${address}`, () => {
    server.close();
    for (const s of sockets) s.destroy();
    if (options.socketPath !== undefined) rmSync(options.socketPath, { force: true });
  });

  return {
    address,
    host,
    port,
    socketPath: options.socketPath,
    name,
    requests,
    setStatus: (s) => { defaultStatus = s; },
    setDelay: (ms) => { defaultDelay = ms; },
    setHandler: (h) => { handler = h; },
    async waitForRequests(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`upstream ${address} got ${requests.length} requests, expected ${count}`);
        await sleep(10);
      }
      return requests;
    },
    close: doClose,
    async stop() {
      await doClose();
      cleanup();
    },
  };
}

/** An upstream running as a child process (`node upstream.ts`), e.g. inside a netns. */
export interface UpstreamProcess {
  address: string;
  host: string;
  port: number;
  socketPath?: string;
  pid: number;
  /** Requests reported by the child so far. */
  requests: RecordedRequest[];
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  stop(): Promise<void>;
}

export interface UpstreamProcessOptions {
  host?: string;
  port: number;
  socketPath?: string;
  status?: number;
  delayMs?: number;
  name?: string;
  /** Run inside this network namespace. */
  netns?: string;
}

const THIS_FILE = fileURLToPath(import.meta.url);

export async function startUpstreamProcess(options: UpstreamProcessOptions): Promise<UpstreamProcess> {
  const args = [THIS_FILE, '--host', options.host ?? '127.0.0.1', '--port', String(options.port)];
  if (options.socketPath !== undefined) args.push('--socket', options.socketPath);
  if (options.status !== undefined) args.push('--status', String(options.status));
  if (options.delayMs !== undefined) args.push('--delay', String(options.delayMs));
  if (options.name !== undefined) args.push('--name', options.name);
  const child = options.netns !== undefined
    ? spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? -1;
  let exited = false;
  const exitPromise = new Promise<void>((ok) => child.once('exit', () => { exited = true; ok(); }));
  const kill = registerCleanup(`upstream process ${pid}`, () => {
    if (!exited && pid > 0) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  const requests: RecordedRequest[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  let buffered = '';
  let address = '';
  const listening = new Promise<void>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '') continue;
        const msg = JSON.parse(line) as { listening?: string; request?: RecordedRequest };
        if (msg.listening !== undefined) { address = msg.listening; ok(); }
        if (msg.request !== undefined) requests.push(msg.request);
      }
    });
    void exitPromise.then(() => fail(new Error(`upstream process exited: ${stderr}`)));
  });
  await Promise.race([listening, sleep(10_000).then(() => { throw new Error(`upstream process did not listen: ${stderr}`); })]).catch(async (err: unknown) => {
    kill();
    throw err;
  });
  return {
    address,
    host: options.host ?? '127.0.0.1',
    port: options.port,
    socketPath: options.socketPath,
    pid,
    requests,
    async waitForRequests(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`upstream ${address} reported ${requests.length} requests, expected ${count}`);
        await sleep(10);
      }
      return requests;
    },
    async stop() {
      if (!exited) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        await Promise.race([exitPromise, sleep(3000)]);
      }
      kill();
    },
  };
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

async function main(argv: string[]): Promise<void> {
  const port = argValue(argv, '--port');
  const status = argValue(argv, '--status');
  const delay = argValue(argv, '--delay');
  const upstream = await startUpstream({
    host: argValue(argv, '--host'),
    port: port !== undefined ? Number(port) : 0,
    socketPath: argValue(argv, '--socket'),
    status: status !== undefined ? Number(status) : undefined,
    delayMs: delay !== undefined ? Number(delay) : undefined,
    name: argValue(argv, '--name'),
    handler: (req) => {
      process.stdout.write(`${JSON.stringify({ request: req })}\n`);
      return undefined;
    },
  });
  process.stdout.write(`${JSON.stringify({ listening: upstream.address })}\n`);
  const shutdown = (): void => { void upstream.stop().then(() => process.exit(0)); };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
