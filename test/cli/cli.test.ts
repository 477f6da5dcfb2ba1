// The CLI as a user runs it: exporting per the standard OTLP variables, JSON on request,
// print-config that nginx accepts, and one-sentence errors.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NGINX_BIN } from '../support/nginx.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { runCli } from '../support/sidecar.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

describe('CLI', () => {
  let receiver: OtlpReceiver;
  beforeEach(async () => { receiver = await startOtlpReceiver(); });
  afterEach(async () => { await receiver.close(); });

  it('honours OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS and _COMPRESSION, and OTEL_SERVICE_NAME', async () => {
    const base = receiver.url.replace('/v1/traces', '');
    const { code, stderr } = await runCli(['replay', fixture('retries.json.log')], {
      OTEL_EXPORTER_OTLP_ENDPOINT: base,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_SERVICE_NAME: 'edge-proxy',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    });
    expect(code, stderr).toBe(0);
    expect(receiver.spans.length).toBeGreaterThan(0);
    expect(receiver.headers[0]['x-api-key']).toBe('s3cret');
    expect(receiver.headers[0]['content-encoding']).toBe('gzip');
    expect(receiver.spans[0].resource['service.name']).toBe('edge-proxy');
    expect(receiver.spans[0].resource['deployment.environment.name']).toBe('test');
    expect(stderr).toMatch(/replayed 26 lines \(0 malformed\) → \d+ spans exported, 0 failed/);
  });

  it('sends OTLP/JSON with --protocol http/json (and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)', async () => {
    const viaFlag = await runCli(['replay', '--protocol', 'http/json', '--endpoint', receiver.url, fixture('proxy-basic.json.log')]);
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    const viaEnv = await runCli(['replay', fixture('proxy-basic.json.log')], { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/json']));
    const half = receiver.spans.length / 2;
    expect(receiver.spans.slice(0, half).map((s) => s.spanId)).toEqual(receiver.spans.slice(half).map((s) => s.spanId));
    const server = receiver.spans.find((s) => s.kind === 2 && s.traceId === '8338f4095a54698f9c31fb6bccef0ab1');
    expect(server?.attributes['http.response.status_code']).toBe(200);
  });

  it('replaying a file twice yields byte-identical spans', async () => {
    await runCli(['replay', '--endpoint', receiver.url, fixture('internal-redirect.json.log')]);
    const first = receiver.spans.splice(0);
    await runCli(['replay', '--endpoint', receiver.url, fixture('internal-redirect.json.log')]);
    expect(receiver.spans).toEqual(first);
  });

  it('exits 1 and says so when the collector rejects every batch', async () => {
    receiver.respondWith(400);
    const { code, stderr } = await runCli(['replay', '--endpoint', receiver.url, fixture('retries.json.log')]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/rejected \d+ spans as invalid/);
    expect(stderr).toMatch(/0 spans exported, \d+ failed/);
  });

  it('prints nginx config that nginx -t accepts', async () => {
    const { code, stdout } = await runCli(['print-config']);
    expect(code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'nos-print-config-'));
    try {
      writeFileSync(join(dir, 'otel.conf'), stdout);
      writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid; error_log ${dir}/error.log; events {}
        http { include ${dir}/otel.conf; access_log ${dir}/access.log otel_json;
               server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; } } }`);
      const out = execFileSync(NGINX_BIN, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what is wrong in one sentence, without a stack trace', async () => {
    const missing = await runCli(['replay', '--exporter', 'console', '/nonexistent/access.log']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe('nginx-otel-sidecar: cannot read /nonexistent/access.log: no such file');
    const dir = mkdtempSync(join(tmpdir(), 'nos-unreadable-'));
    try {
      mkdirSync(join(dir, 'logs.gz'));
      const directory = await runCli(['replay', '--exporter', 'console', join(dir, 'logs.gz')]);
      expect(directory.stderr.trim()).toBe(`nginx-otel-sidecar: cannot read ${join(dir, 'logs.gz')}: it is a directory`);
      writeFileSync(join(dir, 'corrupt.log.gz'), 'not gzip at all\n');
      const corrupt = await runCli(['replay', '--exporter', 'console', join(dir, 'corrupt.log.gz')]);
      expect(corrupt.code).toBe(2);
      expect(corrupt.stderr).toMatch(new RegExp(`\nnginx-otel-sidecar: cannot read ${join(dir, 'corrupt.log.gz')}: incorrect header check\n$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const badOption = await runCli(['replay', '--sample-ratio', '7', 'x.log']);
    expect(badOption.code).not.toBe(0);
    expect(badOption.stderr).toMatch(/not a ratio between 0 and 1/);
    expect(badOption.stderr).not.toMatch(/\n\s+at /);
    const help = await runCli(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--checkpoint <path>/);
  });

  it('replay: a file failing half way (truncated .gz) ends it with exit 2 and the reason, after delivering what was read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nos-truncated-'));
    try {
      const good = fixture('retries.json.log');
      const lines = readFileSync(good, 'utf8').split('\n').filter(Boolean).length;
      writeFileSync(join(dir, 'cut.log.gz'), gzipSync(readFileSync(fixture('proxy-basic.json.log'))).subarray(0, 200));
      const args = ['replay', '--endpoint', receiver.url, '--workers', '2', '--no-honour-parent-sampling', good, join(dir, 'cut.log.gz')];
      const { code, stderr } = await runCli(args);
      expect(code).toBe(2);
      expect(stderr).toMatch(new RegExp(`cannot read ${join(dir, 'cut.log.gz')}: unexpected end of file\n$`));
      // every line of the good file, and whatever whole lines came out of the cut one
      expect(receiver.spans.filter((s) => s.kind === 2).length).toBeGreaterThanOrEqual(lines);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts and reports malformed lines without losing their neighbours', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nos-malformed-'));
    try {
      const good = (await import('node:fs')).readFileSync(fixture('retries.json.log'), 'utf8').split('\n').filter(Boolean);
      const mixed = [good[0], '{"msec":"truncated', good[1], 'garbage \u0000\u0001 line', good[2]].join('\n') + '\n';
      writeFileSync(join(dir, 'mixed.log'), mixed);
      const { code, stderr } = await runCli(['replay', '--endpoint', receiver.url, join(dir, 'mixed.log')]);
      expect(code).toBe(0);
      expect(stderr).toMatch(/replayed 5 lines \(2 malformed\)/);
      expect(stderr).toMatch(/malformed line in .*mixed\.log at byte \d+: not valid JSON/);
      const ids = new Set(receiver.spans.filter((s) => s.kind === 2).map((s) => s.attributes['nginx.request_id']));
      for (const line of good.slice(0, 3)) expect(ids.has(JSON.parse(line).request_id)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
