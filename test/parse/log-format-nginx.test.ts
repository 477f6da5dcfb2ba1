// Every kind of log_format the sidecar reads, fed with what a real nginx writes with it.
//
// One nginx writes the same requests to seven access logs: the recommended otel_json
// (the reference, parsed by the default parser), the predefined `combined`, a quoted text
// format carrying the upstream timings, a tab-separated escape=default format, an
// escape=json text format, and JSON formats with custom keys (escape=json and default).
// The formats live in files pulled in by `include formats/*.conf`, and each parser is made
// the way the CLI makes it: createLineParser({ nginxConf, logFormatName }).
// Requests include retries to dead ports (lists with ", "), an internal redirect after
// failures (" : " groups), a group with no live server (its name), a unix socket, and user
// agents with quotes, a backslash, a tab and non-ASCII text.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessRecord, UpstreamAttempt } from '../../src/parse/access-record.js';
import { createLineParser } from '../../src/parse/create-parser.js';
import { cleanupAll } from '../support/cleanup.ts';
import { rawRequest } from '../support/http-client.ts';
import { freePorts, NGINX_BIN, startNginx, type NginxInstance } from '../support/nginx.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const FANCY_UA = 'Mozilla/5.0 (X11; Linux) "quoted" back\\slash\ttab ü 日本 \\x22';

const FORMATS = `
# Quoted values; the upstream lists end at a quote, which escape=default never lets through.
log_format upstream_text '$remote_addr [$time_local] "$request_method $request_uri $server_protocol" '
                         '$status $body_bytes_sent rt=$request_time msec=$msec rid=$request_id '
                         '"$http_user_agent" ua="$upstream_addr" us="$upstream_status" '
                         'uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time" '
                         'tp="$http_traceparent"';

# Tabs (escaped by nginx inside values), an unbracketed $time_local, \${} and adjacent
# variables, an unknown variable, and a list at the end of the line.
log_format tabs escape=default "$msec\\t$time_local\\t\${scheme}://$host$request_uri\\t$status\\t$request_length\\t"
                               "$http_x_not_sent\\t$http_user_agent\\t$upstream_addr|$upstream_status|$upstream_response_time";
`;

const JSON_FORMATS = `
log_format json_text escape=json '$msec "$request_method" "$request_uri" $status "$http_user_agent" '
                                 '"$upstream_addr" "$upstream_status" "$upstream_connect_time" "$upstream_response_time" $request_id';

log_format custom_json escape=json '{"ts":"$msec","took":$request_time,"id":"$request_id","verb":"$request_method",'
                                   '"path":"$request_uri","code":$status,"agent":"$http_user_agent",'
                                   '"host":"a-constant","where":"$scheme://$host","req":{"m":"$request_method"},'
                                   '"up":"$upstream_addr","up_status":"$upstream_status","up_connect":"$upstream_connect_time",'
                                   '"up_header":"$upstream_header_time","up_response":"$upstream_response_time",'
                                   '"tp":"$http_traceparent"}';

log_format default_json '{"msec":"$msec","request_id":"$request_id","agent":"$http_user_agent","up":"$upstream_addr"}';
`;

interface Case {
  name: string;
  /** Record fields the format carries (compared with the otel_json record of the same request). */
  fields: (keyof AccessRecord)[];
  /** Upstream attempt fields it carries. */
  upstream: (keyof UpstreamAttempt)[];
  /** $msec derived from $time_local: whole seconds. */
  wholeSeconds?: boolean;
}

const CASES: Case[] = [
  { name: 'combined', fields: ['remoteAddr', 'method', 'requestUri', 'protocol', 'status', 'bodyBytesSent', 'userAgent'], upstream: [], wholeSeconds: true },
  {
    name: 'upstream_text',
    fields: ['msec', 'requestTime', 'requestId', 'remoteAddr', 'method', 'requestUri', 'protocol', 'status', 'bodyBytesSent', 'userAgent', 'traceparent'],
    upstream: ['group', 'address', 'status', 'connectTime', 'headerTime', 'responseTime'],
  },
  { name: 'tabs', fields: ['msec', 'scheme', 'host', 'requestUri', 'status', 'requestLength', 'userAgent'], upstream: ['group', 'address', 'status', 'responseTime'] },
  { name: 'json_text', fields: ['msec', 'requestId', 'method', 'requestUri', 'status', 'userAgent'], upstream: ['group', 'address', 'status', 'connectTime', 'responseTime'] },
  {
    name: 'custom_json',
    fields: ['msec', 'requestTime', 'requestId', 'method', 'requestUri', 'status', 'userAgent', 'traceparent'],
    upstream: ['group', 'address', 'status', 'connectTime', 'headerTime', 'responseTime'],
  },
  { name: 'default_json', fields: ['msec', 'requestId', 'userAgent'], upstream: ['group', 'address'] },
];

/** What the client did and what every log must therefore say about it. */
interface Sent {
  method: string;
  uri: string;
  status: number;
  userAgent?: string;
  host?: string;
  /** Expected attempts: group, address, status; `addresses` in any order within a group. */
  upstreams: { group: number; address: string; status: number }[];
  unorderedWithinGroup?: boolean;
}

function latin1(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

describe.skipIf(!existsSync(NGINX_BIN))('log formats on real nginx output', () => {
  let nginx: NginxInstance;
  let live: Upstream;
  let viaSocket: Upstream;
  let socketDir: string;
  let dead: string[];
  const sent: Sent[] = [];

  beforeAll(async () => {
    socketDir = mkdtempSync(join(tmpdir(), 'nos-parse-'));
    live = await startUpstream({ name: 'live' });
    viaSocket = await startUpstream({ name: 'socket', socketPath: join(socketDir, 'app.sock') });
    dead = (await freePorts(2)).map((p) => `127.0.0.1:${p}`);
    nginx = await startNginx({
      http: (ctx) => {
        mkdirSync(ctx.path('formats'));
        writeFileSync(ctx.path('formats/10-text.conf'), FORMATS);
        writeFileSync(ctx.path('formats/20-json.conf'), JSON_FORMATS);
        const logs = ['upstream_text', 'tabs', 'json_text', 'custom_json', 'default_json', 'otel_json'];
        return `
    include formats/*.conf;
    access_log ${ctx.path('combined.log')};
${logs.map((name) => `    access_log ${ctx.path(`${name}.log`)} ${name};`).join('\n')}

    upstream retry { server ${dead[0]} max_fails=0; server ${dead[1]} max_fails=0; server ${live.address} backup; }
    upstream dead { server ${dead[0]}; server ${dead[1]}; }
    upstream live { server ${live.address}; }
    upstream socket { server ${viaSocket.address}; }

    server {
        listen ${ctx.listen()};
        location / { return 200 "ok\\n"; }
        location /missing { return 404; }
        location /retry { proxy_pass http://retry; }
        location /group { proxy_pass http://dead; error_page 502 = @live; }
        location @live { proxy_pass http://live; }
        location /socket { proxy_pass http://socket; }
    }`;
      },
    });

    const get = async (path: string, init: RequestInit, expected: Omit<Sent, 'uri'>): Promise<void> => {
      const res = await fetch(nginx.url(path), init);
      await res.arrayBuffer();
      expect(res.status, path).toBe(expected.status);
      sent.push({ uri: path, ...expected });
    };
    const ua = (userAgent: string): RequestInit => ({ headers: { 'user-agent': userAgent } });

    await get('/plain?q=1&x=%22y%22', { headers: { 'user-agent': latin1(FANCY_UA), traceparent: TRACEPARENT } }, {
      method: 'GET', status: 200, userAgent: FANCY_UA, upstreams: [],
    });
    await get('/plain', { method: 'POST', body: 'hello=world', ...ua('poster') }, { method: 'POST', status: 200, userAgent: 'poster', upstreams: [] });
    await get('/missing', ua('t'), { method: 'GET', status: 404, userAgent: 't', upstreams: [] });
    await get('/retry', ua('t'), {
      method: 'GET', status: 200, userAgent: 't', unorderedWithinGroup: true,
      upstreams: [{ group: 0, address: dead[0], status: 502 }, { group: 0, address: dead[1], status: 502 }, { group: 0, address: live.address, status: 200 }],
    });
    await get('/group', ua('t'), {
      method: 'GET', status: 200, userAgent: 't', unorderedWithinGroup: true,
      upstreams: [{ group: 0, address: dead[0], status: 502 }, { group: 0, address: dead[1], status: 502 }, { group: 1, address: live.address, status: 200 }],
    });
    // Both servers of `dead` are now marked failed: nginx logs the group's name.
    await get('/group', ua('t'), {
      method: 'GET', status: 200, userAgent: 't',
      upstreams: [{ group: 0, address: 'dead', status: 502 }, { group: 1, address: live.address, status: 200 }],
    });
    await get('/socket', ua('t'), { method: 'GET', status: 200, userAgent: 't', upstreams: [{ group: 0, address: viaSocket.address, status: 200 }] });
    // Absolute-form request line, no User-Agent at all.
    const raw = await rawRequest(nginx.host, nginx.port, 'GET http://example.com/abs?y=2 HTTP/1.1\r\nHost: other');
    expect(raw.status).toBe(200);
    sent.push({ method: 'GET', uri: '/abs?y=2', status: 200, host: 'example.com', upstreams: [] });

    await nginx.waitForLines(sent.length, join(nginx.dir, 'otel_json.log'));
    for (const c of CASES) await nginx.waitForLines(sent.length, join(nginx.dir, `${c.name}.log`));
  });

  afterAll(async () => {
    await nginx?.stop();
    await live?.stop();
    await viaSocket?.stop();
    if (socketDir !== undefined) rmSync(socketDir, { recursive: true, force: true });
    cleanupAll();
  });

  function records(name: string): AccessRecord[] {
    const parser = name === 'otel_json' ? createLineParser() : createLineParser({ nginxConf: nginx.confPath, logFormatName: name });
    const lines = readFileSync(join(nginx.dir, `${name}.log`), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(sent.length);
    return lines.map((line) => parser.parse(line));
  }

  it('the reference log (otel_json, default parser) says what the client did', () => {
    const reference = records('otel_json');
    const start = Date.now() / 1000 - 120;
    reference.forEach((r, i) => {
      const s = sent[i];
      const label = `${s.method} ${s.uri}`;
      expect(r.method, label).toBe(s.method);
      expect(r.requestUri, label).toBe(s.uri);
      expect(r.status, label).toBe(s.status);
      expect(r.userAgent, label).toBe(s.userAgent);
      expect(r.requestId, label).toMatch(/^[0-9a-f]{32}$/);
      expect(r.msec, label).toBeGreaterThan(start);
      if (s.host !== undefined) expect(r.host, label).toBe(s.host);
      const attempts = r.upstreams.map(({ group, address, status }) => ({ group, address, status }));
      if (s.unorderedWithinGroup) {
        const key = (a: { group: number; address: string }) => `${a.group} ${a.address}`;
        expect([...attempts].sort((a, b) => key(a).localeCompare(key(b))), label).toEqual([...s.upstreams].sort((a, b) => key(a).localeCompare(key(b))));
      } else {
        expect(attempts, label).toEqual(s.upstreams);
      }
      for (const a of r.upstreams) {
        // a refused connection has no connect or header time, a completed one has both
        expect(a.connectTime === undefined, `${label} ${a.address}`).toBe(a.status === 502);
        expect(a.responseTime, `${label} ${a.address}`).toBeGreaterThanOrEqual(0);
      }
    });
    expect(reference[0].traceparent).toBe(TRACEPARENT);
    expect(reference[1].requestLength).toBeGreaterThan('hello=world'.length);
  });

  for (const c of CASES) {
    it(`${c.name}: every record agrees with the reference on the fields the format carries`, () => {
      const reference = records('otel_json');
      const got = records(c.name);
      got.forEach((r, i) => {
        const ref = reference[i];
        const label = `${c.name} line ${i + 1} (${sent[i].method} ${sent[i].uri})`;
        for (const field of c.fields) expect(r[field], `${label}: ${field}`).toEqual(ref[field]);
        const pick = (a: UpstreamAttempt) => Object.fromEntries(c.upstream.map((f) => [f, a[f]]));
        expect(r.upstreams.map(pick), `${label}: upstreams`).toEqual(c.upstream.length === 0 ? [] : ref.upstreams.map(pick));
        if (c.wholeSeconds) expect(r.msec, label).toBe(Math.floor(ref.msec));
        else expect(r.msec, label).toBe(ref.msec);
        if (!c.fields.includes('requestId')) expect(r.requestId, label).toMatch(/^[0-9a-f]{32}$/);
      });
    });
  }

  it('custom JSON keys: a constant under "host" is not taken for $host', () => {
    expect(records('custom_json').every((r) => r.host === undefined)).toBe(true);
  });

  it('the user agent with quotes, a backslash, a tab and non-ASCII text comes back whole from every format', () => {
    for (const c of CASES) expect(records(c.name)[0].userAgent, c.name).toBe(FANCY_UA);
  });
});
