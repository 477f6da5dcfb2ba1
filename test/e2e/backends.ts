/**
 * The real backends for the end-to-end tests: our OpenTelemetry Collector distribution
 * (otel-collector/build.sh, `otelcol-nos`) and Jaeger v2 (scripts/build-jaeger.sh), started
 * with the repo's own configs on free ports, as child processes registered with the cleanup
 * registry.
 *
 * Binaries: `NOS_OTELCOL_BIN` / `NOS_JAEGER_BIN` when set (scripts/test.sh exports them),
 * else built or reused through the scripts when a Go toolchain is there. In CI (`CI=true`) a
 * missing binary is a failure; elsewhere the e2e tests skip with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerCleanup } from '../support/cleanup.ts';
import { freePorts, REPO_ROOT } from '../support/nginx.ts';

export const OTEL_COLLECTOR_DIR = join(REPO_ROOT, 'otel-collector');

export interface Binaries {
  otelcol: string;
  jaeger: string;
}

export type Availability =
  | { ok: true; bins: Binaries }
  | { ok: false; reason: string; /** true in CI: the test must fail, not skip */ mustFail: boolean };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function goAvailable(): boolean {
  if (process.env.GO !== undefined && executable(process.env.GO)) return true;
  if (spawnSync('sh', ['-c', 'command -v go'], { stdio: 'ignore' }).status === 0) return true;
  return existsSync('/usr/local/go/bin/go');
}

/** Runs a build script (cached builds take well under a second); its last stdout line is the binary. */
function buildWith(script: string): string {
  const r = spawnSync('bash', [join(REPO_ROOT, script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60 * 60_000 });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join('\n')}`);
  const bin = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (!executable(bin)) throw new Error(`${script} printed ${JSON.stringify(bin)}, which is not an executable`);
  return bin;
}

let cached: Availability | undefined;

/** Finds (or builds) the collector and Jaeger binaries once per test process. */
export function resolveBinaries(): Availability {
  if (cached !== undefined) return cached;
  const mustFail = process.env.CI === 'true';
  const fromEnv = (name: string): string | undefined => {
    const value = process.env[name];
    if (value === undefined || value === '') return undefined;
    if (!executable(value)) throw new Error(`${name}=${value} is not an executable file`);
    return value;
  };
  try {
    let otelcol = fromEnv('NOS_OTELCOL_BIN');
    let jaeger = fromEnv('NOS_JAEGER_BIN');
    if ((otelcol === undefined || jaeger === undefined) && !goAvailable()) {
      cached = {
        ok: false,
        mustFail,
        reason: 'no OpenTelemetry Collector / Jaeger binary: set NOS_OTELCOL_BIN and NOS_JAEGER_BIN, or install Go so that '
          + 'otel-collector/build.sh and scripts/build-jaeger.sh can build them (bash scripts/test.sh does)',
      };
      return cached;
    }
    otelcol ??= buildWith('otel-collector/build.sh');
    jaeger ??= buildWith('scripts/build-jaeger.sh');
    cached = { ok: true, bins: { otelcol, jaeger } };
  } catch (err) {
    cached = { ok: false, mustFail, reason: (err as Error).message };
  }
  return cached;
}

/** Whether this process may create namespaces and iptables rules (root with iptables and ip). */
export function networkAvailability(): { ok: true } | { ok: false; reason: string; mustFail: boolean } {
  const mustFail = process.env.CI === 'true';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, mustFail, reason: 'not root (network namespaces and iptables rules need root)' };
  for (const [cmd, args] of [['iptables', ['-w', '-S', 'INPUT']], ['ip', ['netns', 'list']]] as const) {
    if (spawnSync(cmd, [...args], { stdio: 'ignore' }).status !== 0) return { ok: false, mustFail, reason: `\`${cmd} ${args.join(' ')}\` does not work here` };
  }
  if (!existsSync('/usr/sbin/nginx') && process.env.NGINX_BIN === undefined) return { ok: false, mustFail, reason: 'no nginx (/usr/sbin/nginx)' };
  return { ok: true };
}

// ---------------------------------------------------------------- processes

export interface BackendProcess {
  label: string;
  pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, SIGKILL after `graceMs` (default 10 s); resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a collector-style binary (`<bin> --config <file>`) and waits for its
 * "Everything is ready" log line (the collector's and Jaeger v2's startup message).
 */
export async function startCollectorProcess(label: string, bin: string, configs: string[], env: Record<string, string>, extraArgs: string[] = [], readyTimeoutMs = 30_000): Promise<BackendProcess> {
  const args = [...configs.flatMap((c) => ['--config', c]), ...extraArgs];
  const child: ChildProcess = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  let exited = false;
  const exitPromise = new Promise<void>((ok) => child.once('exit', () => { exited = true; ok(); }));
  child.once('error', (err) => { out += `spawn error: ${err.message}\n`; });
  const pid = child.pid ?? -1;
  const kill = registerCleanup(`${label} (pid ${pid})`, () => {
    if (!exited && pid > 0) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  const deadline = Date.now() + readyTimeoutMs;
  while (!out.includes('Everything is ready')) {
    if (exited || Date.now() > deadline) {
      kill();
      await Promise.race([exitPromise, sleep(2000, true)]);
      throw new Error(`${label} did not start (${exited ? `exited ${child.exitCode}` : `not ready after ${readyTimeoutMs} ms`}):\n${out.slice(-4000)}`);
    }
    await sleep(20);
  }
  return {
    label,
    pid,
    output: () => out,
    async stop(graceMs = 10_000) {
      if (!exited) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        await Promise.race([exitPromise, sleep(graceMs, true)]);
        if (!exited) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
          await exitPromise;
        }
      }
      kill.cancel();
    },
  };
}

export interface Jaeger extends BackendProcess {
  /** `http://127.0.0.1:<port>`: the query service (UI, /api/*, /api/v3/*). */
  queryUrl: string;
  /** `127.0.0.1:<port>`: its OTLP/gRPC receiver. */
  otlpGrpc: string;
}

/** Jaeger v2 with otel-collector/jaeger-test.yaml (in-memory storage) on free loopback ports. */
export async function startJaeger(bin: string): Promise<Jaeger> {
  const [grpc, http, query, queryGrpc] = await freePorts(4);
  const proc = await startCollectorProcess('jaeger', bin, [join(OTEL_COLLECTOR_DIR, 'jaeger-test.yaml')], {
    JAEGER_HOST: '127.0.0.1',
    JAEGER_OTLP_GRPC_PORT: String(grpc),
    JAEGER_OTLP_HTTP_PORT: String(http),
    JAEGER_QUERY_HTTP_PORT: String(query),
    JAEGER_QUERY_GRPC_PORT: String(queryGrpc),
  });
  return Object.assign(proc, { queryUrl: `http://127.0.0.1:${query}`, otlpGrpc: `127.0.0.1:${grpc}` });
}

export interface Collector extends BackendProcess {
  /** `http://<host>:<port>/v1/traces`: the OTLP/HTTP traces URL. */
  tracesUrl: string;
}

/**
 * The test collector (otel-collector/test-collector.yaml: OTLP in, batch 100 ms, OTLP/gRPC to
 * Jaeger) listening on `listenHost` (default 127.0.0.1).
 */
export async function startTestCollector(bin: string, jaegerOtlpGrpc: string, listenHost = '127.0.0.1'): Promise<Collector> {
  const [http, grpc] = await freePorts(2);
  const proc = await startCollectorProcess('test collector', bin, [join(OTEL_COLLECTOR_DIR, 'test-collector.yaml')], {
    NOS_TEST_LISTEN_HOST: listenHost,
    NOS_TEST_OTLP_HTTP_PORT: String(http),
    NOS_TEST_OTLP_GRPC_PORT: String(grpc),
    JAEGER_OTLP_ENDPOINT: jaegerOtlpGrpc,
  });
  return Object.assign(proc, { tracesUrl: `http://${listenHost}:${http}/v1/traces` });
}

/** `unref`: the timer alone does not keep the process alive (for races against an exit). */
/**
 * The shipped agent config (otel-collector/config.yaml: OTLP in → Jaeger and AWS X-Ray) on free
 * loopback ports, its X-Ray exporter pointed at `xrayEndpoint` (a local capture) in local mode
 * with fake credentials and no EC2 metadata lookups. Its Jaeger pipeline points at
 * `jaegerOtlpGrpc`, or at a closed loopback port (it then only logs export errors).
 */
export async function startShippedCollector(bin: string, xrayEndpoint: string, options: { jaegerOtlpGrpc?: string; featureGates?: string[] } = {}): Promise<Collector> {
  const [http, grpc, health, metrics, closed] = await freePorts(5);
  const gates = options.featureGates ?? [];
  const proc = await startCollectorProcess('agent collector (config.yaml)', bin, [join(OTEL_COLLECTOR_DIR, 'config.yaml')], {
    OTEL_LISTEN_HOST: '127.0.0.1',
    OTEL_OTLP_HTTP_PORT: String(http),
    OTEL_OTLP_GRPC_PORT: String(grpc),
    OTEL_HEALTH_ENDPOINT: `127.0.0.1:${health}`,
    OTEL_METRICS_PORT: String(metrics),
    JAEGER_OTLP_ENDPOINT: options.jaegerOtlpGrpc ?? `127.0.0.1:${closed}`,
    AWS_XRAY_ENDPOINT: xrayEndpoint,
    AWS_XRAY_LOCAL_MODE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDNOSTEST000000000',
    AWS_SECRET_ACCESS_KEY: 'nos-test-not-a-secret',
    AWS_SESSION_TOKEN: '',
    // Never probe the EC2 instance metadata address (169.254.169.254).
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  }, gates.length > 0 ? [`--feature-gates=${gates.join(',')}`] : []);
  return Object.assign(proc, { tracesUrl: `http://127.0.0.1:${http}/v1/traces` });
}

export function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((ok) => {
    const timer = setTimeout(ok, ms);
    if (unref) timer.unref();
  });
}
