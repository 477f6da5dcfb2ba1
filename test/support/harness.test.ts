import { readFileSync, renameSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupAll } from './cleanup.ts';
import { httpRequest } from './http-client.ts';
import { freePort, freePorts, nginxTest, REPO_NGINX_DIR, REPO_ROOT, renderNginxConf, startNginx, type NginxInstance } from './nginx.ts';
import { canManipulateNetwork, dropSyns, listTaggedRules, RULE_COMMENT } from './syn-drop.ts';
import { startUpstream, type Upstream } from './upstream.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

interface Logged {
  request_id: string;
  request_uri: string;
  status: string;
  upstream_addr: string;
  http_traceparent: string;
  http_tracestate: string;
  http_x_amzn_trace_id: string;
}

describe('real nginx with the shipped trace-context snippets', () => {
  let upstream: Upstream;
  let nginx: NginxInstance;

  beforeAll(async () => {
    upstream = await startUpstream({ name: 'app' });
    nginx = await startNginx({
      http: (ctx) => `
    access_log ${ctx.accessLog} otel_json;
    server {
        listen ${ctx.listen()};
        location / {
            proxy_pass http://${upstream.address};
        }
    }`,
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    await upstream?.stop();
    cleanupAll();
  });

  /** Sends one request and returns what the upstream received and what nginx logged for it. */
  async function roundTrip(path: string, headers: Record<string, string>) {
    const before = upstream.requests.length;
    const lineCount = nginx.readAccessLog().length;
    const res = await httpRequest({ port: nginx.port, path, headers });
    expect(res.status).toBe(200);
    const received = (await upstream.waitForRequests(before + 1))[before];
    const lines = await nginx.waitForLines(lineCount + 1);
    const logged = JSON.parse(lines[lineCount]) as Logged;
    expect(logged.request_uri).toBe(path);
    expect(received.url).toBe(path);
    expect(logged.request_id).toMatch(/^[0-9a-f]{32}$/);
    return { received, logged, spanId: logged.request_id.slice(16) };
  }

  it('keeps an incoming W3C trace id and flags, with the first attempt as parent', async () => {
    const { received, logged, spanId } = await roundTrip('/w3c?x=1', {
      traceparent: `00-${TRACE_ID}-${PARENT}-01`,
      tracestate: 'vendor=abc,other=1',
    });
    expect(received.traceparent).toBe(`00-${TRACE_ID}-${spanId}-01`);
    expect(received.tracestate).toBe('vendor=abc,other=1');
    expect(logged.http_traceparent).toBe(`00-${TRACE_ID}-${PARENT}-01`);
    expect(logged.upstream_addr).toBe(upstream.address);
  });

  it('keeps unsampled flags (00)', async () => {
    const { received, spanId } = await roundTrip('/w3c-unsampled', { traceparent: `00-${TRACE_ID}-${PARENT}-00` });
    expect(received.traceparent).toBe(`00-${TRACE_ID}-${spanId}-00`);
  });

  it('starts a trace from $request_id when there is no trace header', async () => {
    const { received, logged, spanId } = await roundTrip('/none', {});
    expect(received.traceparent).toBe(`00-${logged.request_id}-${spanId}-01`);
    expect(received.tracestate).toBeUndefined();
  });

  it('ignores an all-zero traceparent', async () => {
    const { received, logged, spanId } = await roundTrip('/zero', { traceparent: `00-${'0'.repeat(32)}-${PARENT}-00` });
    expect(received.traceparent).toBe(`00-${logged.request_id}-${spanId}-01`);
  });

  it('takes the trace id from a Root-only X-Ray header (as ALB sends)', async () => {
    const root = '1-5759e988-bd862e3fe1be46a994272793';
    const { received, logged, spanId } = await roundTrip('/xray-root', { 'X-Amzn-Trace-Id': `Root=${root}` });
    expect(received.traceparent).toBe(`00-5759e988bd862e3fe1be46a994272793-${spanId}-01`);
    expect(logged.http_x_amzn_trace_id).toBe(`Root=${root}`);
  });

  it('takes the trace id from an X-Ray header with Parent and Sampled', async () => {
    const header = 'Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1';
    const { received, spanId } = await roundTrip('/xray-full', { 'X-Amzn-Trace-Id': header });
    expect(received.traceparent).toBe(`00-67891233abcdef012345678912345678-${spanId}-01`);
  });

  it('prefers a valid traceparent over an X-Ray header', async () => {
    const { received, spanId } = await roundTrip('/both', {
      traceparent: `00-${TRACE_ID}-${PARENT}-01`,
      'X-Amzn-Trace-Id': 'Root=1-67891233-abcdef012345678912345678',
    });
    expect(received.traceparent).toBe(`00-${TRACE_ID}-${spanId}-01`);
  });

  it('reopens the access log on reopen()', async () => {
    await roundTrip('/before-rotate', {});
    const rotated = `${nginx.accessLog}.1`;
    renameSync(nginx.accessLog, rotated);
    await nginx.reopen();
    await httpRequest({ port: nginx.port, path: '/after-rotate' });
    const lines = await nginx.waitForLines(1);
    expect(JSON.parse(lines[0]).request_uri).toBe('/after-rotate');
    expect(readFileSync(rotated, 'utf8')).toContain('/before-rotate');
  });
});

describe('nginx/example-reverse-proxy.conf', () => {
  it('passes nginx -t and propagates traceparent when wrapped in http {} with local upstreams', async () => {
    const apps = [await startUpstream({ name: 'app1' }), await startUpstream({ name: 'app2' })];
    const [listenPort] = await freePorts(1);
    const example = readFileSync(join(REPO_NGINX_DIR, 'example-reverse-proxy.conf'), 'utf8');
    let rewritten = example
      .replace(/include otel\//g, `include ${REPO_NGINX_DIR}/`)
      .replace(/\blisten 80;/, `listen 127.0.0.1:${listenPort};`);
    let i = 0;
    rewritten = rewritten.replace(/\b10\.0\.0\.\d+:\d+/g, () => apps[i++ % apps.length].address);
    expect(i).toBe(2);
    expect(rewritten).not.toMatch(/\b10\.0\.0\./);
    expect(rewritten).toContain(`include ${REPO_NGINX_DIR}/otel-proxy-headers.conf;`);

    // nginx -t on a temp copy of the whole config.
    const dir = mkdtempSync(join(tmpdir(), 'nos-example-'));
    try {
      const confPath = join(dir, 'nginx.conf');
      writeFileSync(confPath, renderNginxConf(dir, `access_log ${join(dir, 'access.log')} otel_json;\n${rewritten}`));
      nginxTest(confPath);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // And for real: the location sets its own headers, so the include there must carry traceparent.
    const nginx = await startNginx({ ports: [listenPort], http: (ctx) => `access_log ${ctx.accessLog} otel_json;\n${rewritten}` });
    try {
      const res = await httpRequest({ port: nginx.port, path: '/example', headers: { traceparent: `00-${TRACE_ID}-${PARENT}-01` } });
      expect(res.status).toBe(200);
      const [line] = await nginx.waitForLines(1);
      const logged = JSON.parse(line) as Logged;
      const received = [...apps[0].requests, ...apps[1].requests];
      expect(received).toHaveLength(1);
      expect(received[0].traceparent).toBe(`00-${TRACE_ID}-${logged.request_id.slice(16)}-01`);
      expect(received[0].headers.connection).toBeUndefined(); // keepalive upstream, Connection ""
    } finally {
      await nginx.stop();
      for (const app of apps) await app.stop();
    }
  });
});

describe('harness failure modes', () => {
  it('throws with nginx -t output when the config is invalid', async () => {
    await expect(startNginx({ http: 'server { listen 127.0.0.1:1; bogus_directive on; }' })).rejects.toThrow(/unknown directive "bogus_directive"/);
  });

  it('throws with the error log when nginx cannot start (port taken)', async () => {
    const holder = await startUpstream();
    await expect(startNginx({ ports: [holder.port], http: (ctx) => `server { listen ${ctx.listen()}; return 204; }` }))
      .rejects.toThrow(/nginx failed to start[\s\S]*bind\(\) to 127\.0\.0\.1:\d+ failed \(98: Address already in use\)/);
    await holder.stop();
  });

  it('freePort returns a port nothing listens on', async () => {
    const port = await freePort();
    await expect(httpRequest({ port, timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe.skipIf(!canManipulateNetwork())('syn-drop iptables rule', () => {
  it('adds a tagged rule and removes exactly that rule', async () => {
    const port = await freePort();
    const before = listTaggedRules().length;
    const drop = dropSyns({ port, probability: 0.3 });
    try {
      const rules = listTaggedRules().filter((r) => r.includes(RULE_COMMENT) && r.includes(`--dport ${port}`));
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatch(/-i lo -p tcp .*--tcp-flags FIN,SYN,RST,ACK SYN -m statistic --mode random --probability 0\.2999/);
    } finally {
      drop();
    }
    drop(); // idempotent
    expect(listTaggedRules()).toHaveLength(before);
  });
});

describe('recorded fixtures (test/fixtures)', () => {
  const fixtures = join(REPO_ROOT, 'test', 'fixtures');
  const jsonLines = (name: string): Array<Record<string, string>> =>
    readFileSync(join(fixtures, name), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, string>);
  const connectTimes = (name: string): number[] =>
    jsonLines(name).flatMap((d) => d.upstream_connect_time.split(/, | : /)).filter((t) => /^\d/.test(t)).map(Number);

  it('have the shapes their scenarios promise', () => {
    expect(jsonLines('retries.json.log').some((d) => /^127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+$/.test(d.upstream_addr))).toBe(true);
    expect(jsonLines('connect-refused.json.log').every((d) => d.status === '502')).toBe(true);
    expect(jsonLines('connect-timeout.json.log').some((d) => d.status === '504' && d.upstream_connect_time === '-')).toBe(true);
    expect(jsonLines('internal-redirect.json.log').some((d) => d.upstream_addr.includes(' : '))).toBe(true);
    expect(jsonLines('unix-socket.json.log').every((d) => d.upstream_addr.startsWith('unix:'))).toBe(true);
    const linear = connectTimes('syn-drop-linear.json.log');
    for (const s of [1, 2, 3]) expect(linear.some((t) => t >= s - 0.05 && t < s + 0.3)).toBe(true);
    const classic = connectTimes('syn-drop-classic.json.log');
    for (const s of [1, 3]) expect(classic.some((t) => t >= s - 0.05 && t < s + 0.3)).toBe(true);
    expect(classic.some((t) => t >= 1.9 && t < 2.5)).toBe(false); // no linear 2 s step
    const slow = connectTimes('steady-slow.json.log');
    expect(slow.length).toBeGreaterThan(250);
    expect(slow.every((t) => t >= 0.035 && t < 0.2)).toBe(true);
    expect(jsonLines('healthy.json.log').every((d) => d.upstream_connect_time !== '-')).toBe(true);
    const text = readFileSync(join(fixtures, 'text-combined.log'), 'latin1');
    expect(text).toMatch(/ua="127\.0\.0\.1:\d+ : 127\.0\.0\.1:\d+"/);
    expect(readFileSync(join(fixtures, 'escapes.default.log'), 'latin1')).toContain('\\x22quoted\\x22');
  });

  it('a recorder scenario can be reused from a test', async () => {
    const { recordConnectRefused } = await import('../fixtures/record-fixtures.ts');
    const out = mkdtempSync(join(tmpdir(), 'nos-fx-'));
    try {
      const [written] = await recordConnectRefused(out);
      expect(written.lines).toBe(8);
      expect(readFileSync(written.path, 'utf8')).toContain('"upstream_addr":"dead_pool"');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
