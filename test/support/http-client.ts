/**
 * curl-like client requests for tests: `httpRequest` (node:http, any method, no keep-alive
 * so each request is its own connection unless an agent is given), `rawRequest` (bytes
 * written on a plain socket, for header values and URIs node:http refuses to send), and
 * `runConcurrently` (N requests with a concurrency limit).
 */
import { request as httpRequestRaw, Agent, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface ClientRequest {
  host?: string;
  port: number;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: Agent;
  timeoutMs?: number;
}

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function httpRequest(req: ClientRequest): Promise<ClientResponse> {
  return new Promise((ok, fail) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = Buffer.byteLength(req.body);
    const r = httpRequestRaw(
      {
        host: req.host ?? '127.0.0.1',
        port: req.port,
        method: req.method ?? 'GET',
        path: req.path ?? '/',
        headers,
        agent: req.agent ?? false,
        timeout: req.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`request ${req.method ?? 'GET'} ${req.path ?? '/'} timed out`)));
    r.on('error', fail);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/**
 * Sends `head` (the request line and headers, without the final blank line; lines joined
 * with CRLF) as raw bytes with `Connection: close`, and returns the whole response bytes.
 */
export function rawRequest(host: string, port: number, head: Buffer | string, timeoutMs = 10_000): Promise<{ status: number; raw: Buffer }> {
  return new Promise((ok, fail) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('raw request timed out')));
    socket.on('connect', () => {
      const headBuf = typeof head === 'string' ? Buffer.from(head, 'latin1') : head;
      socket.write(Buffer.concat([headBuf, Buffer.from('\r\nConnection: close\r\n\r\n', 'latin1')]));
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', fail);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw.toString('latin1', 0, 20));
      ok({ status: m !== null ? Number(m[1]) : 0, raw });
    });
  });
}

/** Runs `count` tasks with at most `concurrency` in flight; results in task order. */
export async function runConcurrently<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
