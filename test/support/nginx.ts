/**
 * Runs Debian's nginx (/usr/sbin/nginx) for tests: a fresh temp dir per instance holding
 * nginx.conf, pid, error log, temp paths and (by default) the access logs; the repo's
 * nginx/otel-log-format.conf and nginx/otel-trace-context.conf included by absolute path;
 * the `http {}` body supplied by the caller. nginx runs as a non-daemon child process
 * (optionally inside a network namespace via `ip netns exec`), so stop() and the exit
 * handler simply signal it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from './cleanup.ts';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
/** The repository root (two levels above this file). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repo's nginx snippets directory. */
export const REPO_NGINX_DIR = join(REPO_ROOT, 'nginx');
export const OTEL_LOG_FORMAT_CONF = join(REPO_NGINX_DIR, 'otel-log-format.conf');
export const OTEL_TRACE_CONTEXT_CONF = join(REPO_NGINX_DIR, 'otel-trace-context.conf');
export const OTEL_PROXY_HEADERS_CONF = join(REPO_NGINX_DIR, 'otel-proxy-headers.conf');

/** What the `http` body builder gets: the dir, the listen address and ports allocated for it. */
export interface NginxContext {
  dir: string;
  /** Listen address (default 127.0.0.1). */
  host: string;
  /** `ports[0]`. */
  port: number;
  ports: number[];
  /** `<dir>/access.log`: the conventional main access log path. */
  accessLog: string;
  /** `<dir>/<name>`: another file in the instance dir (e.g. a second access log). */
  path(name: string): string;
  /** `host:port` of `ports[i]` for a `listen` directive. */
  listen(i?: number): string;
}

export interface NginxOptions {
  /**
   * The body of `http {}`: servers, upstreams, access_log lines, extra log_formats. When it
   * has no `access_log` directive at all, `access_log <dir>/access.log otel_json;` is added.
   */
  http: string | ((ctx: NginxContext) => string);
  /** How many listen ports to allocate (default 1). Ignored when `ports` is given. */
  portCount?: number;
  /** Use these ports instead of allocating free ones. */
  ports?: number[];
  /** Listen address passed to the builder and used for the readiness probe (default 127.0.0.1). */
  host?: string;
  /** Run nginx inside this network namespace (`ip netns exec <netns> nginx ...`). */
  netns?: string;
  /** Include the repo's otel-log-format.conf and otel-trace-context.conf (default true). */
  includeOtelSnippets?: boolean;
  /** `worker_processes` (default 1). */
  workerProcesses?: number;
  /** `worker_connections` (default 1024). */
  workerConnections?: number;
  /** Extra main-context directives. */
  main?: string;
  /** error_log level (default notice; reopen() relies on notice messages). */
  errorLogLevel?: string;
  /** How long to wait for the first listen port to accept connections (default 10 s). */
  readyTimeoutMs?: number;
}

export interface NginxInstance {
  dir: string;
  confPath: string;
  errorLogPath: string;
  host: string;
  port: number;
  ports: number[];
  /** `<dir>/access.log` (whether or not the config writes it). */
  accessLog: string;
  /** Every path named by an `access_log` directive in the config, in order. */
  accessLogs: string[];
  /** The master process id. */
  pid: number;
  /** `http://host:port<path>` for ports[0] (or ports[i]). */
  url(path?: string, i?: number): string;
  errorLog(): string;
  /** Lines of an access log (default the first of accessLogs). Empty when not yet written. */
  readAccessLog(path?: string): string[];
  /** Waits until the access log has at least `count` lines; returns them. */
  waitForLines(count: number, path?: string, timeoutMs?: number): Promise<string[]>;
  /** SIGUSR1 (what `nginx -s reopen` sends); resolves once master and workers reopened. */
  reopen(): Promise<void>;
  /** Fast shutdown (SIGTERM, SIGKILL after 5 s); removes the dir unless keepDir. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(1, host))[0];
}

/** `count` distinct free ports (all held open until every one is chosen). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(0, host, () => ok());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      ports.push(address.port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }
  return ports;
}

/** Resolves when host:port accepts a TCP connection; rejects after timeoutMs. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const socket = connect({ host, port });
      socket.setTimeout(500);
      socket.once('connect', () => { socket.destroy(); done(true); });
      socket.once('timeout', () => { socket.destroy(); done(false); });
      socket.once('error', () => { socket.destroy(); done(false); });
    });
    if (ok) return;
    if (!isAlive()) throw new Error(`process exited before ${host}:${port} accepted connections`);
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** The `access_log` file paths named in a config text (skips `off` and syslog:). */
export function accessLogPaths(conf: string): string[] {
  const paths: string[] = [];
  const re = /^\s*access_log\s+("[^"]*"|'[^']*'|[^\s;]+)/gm;
  for (let m = re.exec(conf); m !== null; m = re.exec(conf)) {
    let p = m[1];
    if (p.startsWith('"') || p.startsWith("'")) p = p.slice(1, -1);
    if (p === 'off' || p.startsWith('syslog:')) continue;
    if (!paths.includes(p)) paths.push(p);
  }
  return paths;
}

function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return [];
  }
  // latin1 keeps every byte; callers wanting UTF-8 re-read the file.
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Builds the full nginx.conf text (exported for tests that only need `nginx -t`). */
export function renderNginxConf(dir: string, httpBody: string, options: Pick<NginxOptions, 'includeOtelSnippets' | 'workerProcesses' | 'workerConnections' | 'main' | 'errorLogLevel'> = {}): string {
  const includes = options.includeOtelSnippets === false ? '' :
    `    include ${OTEL_LOG_FORMAT_CONF};\n    include ${OTEL_TRACE_CONTEXT_CONF};\n`;
  // With no access_log in the body, log to <dir>/access.log (otel_json when included) rather
  // than to the compiled-in /var/log/nginx/access.log. (An http-level `access_log off` here
  // would cancel the caller's http-level access_log lines, so none is added when they have any.)
  const defaultAccessLog = accessLogPaths(httpBody).length > 0 || /^\s*access_log\s/m.test(httpBody) ? '' :
    `    access_log ${join(dir, 'access.log')}${options.includeOtelSnippets === false ? '' : ' otel_json'};\n`;
  const user = typeof process.getuid === 'function' && process.getuid() === 0 ? 'user root root;\n' : '';
  return `# Generated by test/support/nginx.ts
daemon off;
master_process on;
${user}worker_processes ${options.workerProcesses ?? 1};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} ${options.errorLogLevel ?? 'notice'};
${options.main ?? ''}
events {
    worker_connections ${options.workerConnections ?? 1024};
}

http {
    client_body_temp_path ${join(dir, 'client_body_temp')};
    proxy_temp_path ${join(dir, 'proxy_temp')};
    fastcgi_temp_path ${join(dir, 'fastcgi_temp')};
    uwsgi_temp_path ${join(dir, 'uwsgi_temp')};
    scgi_temp_path ${join(dir, 'scgi_temp')};
${includes}${defaultAccessLog}
${httpBody}
}
`;
}

/** Runs `nginx -t` on a config file; throws with nginx's output and the error log on failure. */
export function nginxTest(confPath: string, options: { prefix?: string; netns?: string } = {}): string {
  const prefix = options.prefix ?? dirname(confPath);
  const errorLog = join(prefix, 'error.log');
  const args = ['-t', '-q', '-p', prefix + '/', '-c', confPath, '-e', errorLog];
  const [cmd, argv] = options.netns !== undefined ? ['ip', ['netns', 'exec', options.netns, NGINX_BIN, ...args]] : [NGINX_BIN, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 30_000 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) {
    const log = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
    throw new Error(`nginx -t failed for ${confPath} (exit ${result.status}${result.error ? `, ${result.error.message}` : ''}):\n${output}\n--- error log ---\n${log}`);
  }
  return output;
}

/** Writes the config into a fresh temp dir, checks it with `nginx -t`, starts nginx, waits for it. */
export async function startNginx(options: NginxOptions): Promise<NginxInstance> {
  const host = options.host ?? '127.0.0.1';
  const ports = options.ports ?? (await freePorts(options.portCount ?? 1));
  const dir = mkdtempSync(join(tmpdir(), 'nos-nginx-'));
  const removeDir = registerCleanup(`nginx dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const ctx: NginxContext = {
    dir,
    host,
    port: ports[0],
    ports,
    accessLog: join(dir, 'access.log'),
    path: (name) => join(dir, name),
    listen: (i = 0) => `${host.includes(':') ? `[${host}]` : host}:${ports[i]}`,
  };
  const body = typeof options.http === 'function' ? options.http(ctx) : options.http;
  const conf = renderNginxConf(dir, body, options);
  const confPath = join(dir, 'nginx.conf');
  const errorLogPath = join(dir, 'error.log');
  writeFileSync(confPath, conf);
  try {
    nginxTest(confPath, { prefix: dir, netns: options.netns });
  } catch (err) {
    removeDir();
    throw err;
  }

  const args = ['-p', dir + '/', '-c', confPath, '-e', errorLogPath];
  const child: ChildProcess = options.netns !== undefined
    ? spawn('ip', ['netns', 'exec', options.netns, NGINX_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(NGINX_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  let exited = false;
  const exitPromise = new Promise<void>((ok) => child.once('exit', () => { exited = true; ok(); }));
  child.once('error', (err) => { output += `spawn error: ${err.message}\n`; exited = true; });
  const pid = child.pid ?? -1;
  const killChild = registerCleanup(`nginx pid ${pid}`, () => {
    if (!exited && pid > 0) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });

  const errorLog = (): string => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  const fail = async (err: unknown): Promise<never> => {
    killChild();
    await Promise.race([exitPromise, sleep(2000)]);
    const log = errorLog();
    removeDir();
    throw new Error(`nginx failed to start: ${(err as Error).message}\n${output}\n--- error log ---\n${log}`);
  };
  try {
    // nginx writes its pid file only after binding every listen socket; the port check alone
    // could be answered by another process holding the port.
    const pidFile = join(dir, 'nginx.pid');
    const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      if (exited) throw new Error('nginx exited during startup');
      if (Date.now() > deadline) throw new Error(`no pid file after ${options.readyTimeoutMs ?? 10_000} ms`);
      await sleep(10);
    }
    await waitForPort(host, ports[0], Math.max(1000, deadline - Date.now()), () => !exited);
    if (exited) throw new Error('nginx exited during startup');
  } catch (err) {
    return fail(err);
  }

  const accessLogs = accessLogPaths(conf).map((p) => (p.startsWith('/') ? p : join(dir, p)));
  const workers = options.workerProcesses ?? 1;
  const countReopens = (): number => (errorLog().match(/\d+#\d+: reopening logs$/gm) ?? []).length;

  const instance: NginxInstance = {
    dir,
    confPath,
    errorLogPath,
    host,
    port: ports[0],
    ports,
    accessLog: ctx.accessLog,
    accessLogs,
    pid,
    url: (path = '/', i = 0) => `http://${ctx.listen(i)}${path}`,
    errorLog,
    readAccessLog: (path) => readLines(path ?? accessLogs[0] ?? ctx.accessLog),
    async waitForLines(count, path, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = readLines(path ?? accessLogs[0] ?? ctx.accessLog);
        if (lines.length >= count) return lines;
        if (Date.now() > deadline) throw new Error(`access log has ${lines.length} lines, expected ${count}`);
        await sleep(20);
      }
    },
    async reopen() {
      // nginx logs "reopening logs" once in the master and once per worker (level notice).
      const before = countReopens();
      process.kill(pid, 'SIGUSR1');
      const deadline = Date.now() + 5000;
      while (countReopens() < before + 1 + workers) {
        if (Date.now() > deadline) throw new Error(`nginx did not confirm reopening logs:\n${errorLog()}`);
        await sleep(10);
      }
    },
    async stop(stopOptions = {}) {
      if (!exited) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        const killed = await Promise.race([exitPromise.then(() => false), sleep(5000).then(() => true)]);
        if (killed) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
          await exitPromise;
        }
      }
      killChild();
      if (stopOptions.keepDir === true) removeDir.cancel();
      else removeDir();
    },
  };
  return instance;
}

/** True when `path` exists and is non-empty. */
export function nonEmpty(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}
