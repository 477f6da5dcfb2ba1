// Unit tests of the log_format compiler: what it refuses, how it splits and decodes lines.
// The real-nginx counterparts (every format fed with nginx's own output) are in
// log-format-nginx.test.ts.
import { describe, expect, it } from 'vitest';
import { MalformedLineError } from '../../src/parse/access-record.js';
import { JsonLineParser } from '../../src/parse/json-line-parser.js';
import { compileLogFormat, jsonKeyMap, splitLogFormat, unescapeJson } from '../../src/parse/log-format.js';
import { createLineParser } from '../../src/parse/create-parser.js';
import { COMBINED_LOG_FORMAT } from '../../src/parse/nginx-conf.js';

const RID = '0123456789abcdef0123456789abcdef';

function refusal(format: string, escape: 'default' | 'json' | 'none' = 'default'): string {
  try {
    compileLogFormat(format, escape);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`compiled: ${format}`);
}

function malformed(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedLineError);
    return (err as Error).message;
  }
  throw new Error('parsed');
}

describe('splitLogFormat', () => {
  it('splits like ngx_http_log_compile_format: $name, ${name}, case folded', () => {
    expect(splitLogFormat('a=$msec ${Request_Time}s$status')).toEqual([
      { literal: 'a=' },
      { variable: 'msec', spelled: 'msec' },
      { literal: ' ' },
      { variable: 'request_time', spelled: 'Request_Time' },
      { literal: 's' },
      { variable: 'status', spelled: 'status' },
    ]);
  });

  it('rejects a bare $ and an unclosed ${', () => {
    expect(() => splitLogFormat('$msec $ x')).toThrow(/not followed by a variable name/);
    expect(() => splitLogFormat('${msec x')).toThrow(/closing bracket/);
  });
});

describe('compileLogFormat refuses ambiguous formats', () => {
  it('refuses an $upstream_* list followed by a space', () => {
    expect(refusal('$msec $upstream_addr $upstream_status')).toBe(
      'log_format: $upstream_addr is followed by " " which also occurs inside its value ("10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock"); put it in quotes or end it with a character that cannot occur in it',
    );
  });

  it('refuses delimiters made only of characters a list can hold', () => {
    expect(refusal('$msec urt=$upstream_response_time, $status')).toMatch(/^log_format: \$upstream_response_time is followed by ", "/);
    expect(refusal('$msec s=$upstream_status : $status')).toMatch(/^log_format: \$upstream_status is followed by " : "/);
    expect(refusal('$msec $upstream_connect_time 1$status')).toMatch(/\$upstream_connect_time is followed by " 1"/);
    // escape=json and escape=none do not change what a list holds
    expect(refusal('$msec $upstream_addr $status', 'json')).toMatch(/\$upstream_addr is followed by " "/);
    expect(refusal('$msec $upstream_addr $status', 'none')).toMatch(/\$upstream_addr is followed by " "/);
  });

  it('refuses two variables with nothing between them when the first could swallow the second', () => {
    expect(refusal('$msec $upstream_addr$upstream_status')).toBe(
      'log_format: $upstream_addr is directly followed by $upstream_status with no text between them, so where one value ends and the other begins cannot be told ($upstream_addr is a list such as "10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock"); put a delimiter between them that cannot occur in $upstream_addr',
    );
    expect(refusal('$status$upstream_addr $msec')).toMatch(/\$status is directly followed by \$upstream_addr .*\(\$upstream_addr is a list/);
    expect(refusal('$msec $remote_addr$http_x_forwarded_for')).toMatch(/\$remote_addr is directly followed by \$http_x_forwarded_for/);
  });

  it('refuses a format without $msec (or a time to derive it from)', () => {
    expect(refusal('$remote_addr "$request" $status')).toMatch(/^log_format: the format has no \$msec/);
    expect(refusal('{"status":"$status","t":"$request_time"}')).toMatch(/^log_format: the JSON format has no "\$msec" value/);
  });

  it('accepts lists delimited by a character they cannot hold, or ending the line', () => {
    for (const format of [
      '$msec "$upstream_addr" "$upstream_status"',
      '$msec ua=$upstream_addr us=$upstream_status', // "=" cannot occur in a list
      '$msec|$upstream_addr|$upstream_response_time',
      '$msec\t$upstream_addr\t$upstream_status',
      '$msec $upstream_addr', // to the end of the line
      '$msec "$upstream_status, "',
      '$msec $upstream_addr ', // the literal ending the format must end the line
    ]) {
      expect(() => compileLogFormat(format, 'default'), format).not.toThrow();
    }
  });

  it('accepts adjacent variables the value sets keep apart, and fixed-width times', () => {
    const p = compileLogFormat('$scheme://$host$request_uri $msec $time_local$status', 'default');
    const r = p.parse('https://example.com:8443/a/b?c=d 1700000000.123 14/Nov/2023:22:13:20 +0000200');
    expect(r.scheme).toBe('https');
    expect(r.host).toBe('example.com:8443');
    expect(r.requestUri).toBe('/a/b?c=d');
    expect(r.status).toBe(200);
  });
});

describe('text formats', () => {
  const format =
    '$remote_addr [$time_local] "$request_method $request_uri $server_protocol" $status $body_bytes_sent rt=$request_time ' +
    'msec=$msec rid=$request_id "$http_user_agent" ua="$upstream_addr" us="$upstream_status" uct="$upstream_connect_time" ' +
    'uht="$upstream_header_time" urt="$upstream_response_time" x=$http_x_unknown tp="$http_traceparent"';
  const parser = compileLogFormat(format, 'default');

  it('parses every variable, upstream lists included', () => {
    const line =
      `10.1.2.3 [14/Nov/2023:22:13:20 +0000] "GET /a?b=1 HTTP/1.1" 200 612 rt=0.010 msec=1700000000.123 rid=${RID} ` +
      '"Mozilla/5.0 \\x22x\\x22 \\xC3\\xBC" ua="10.0.0.1:80, unix:/run/a b.sock : app" us="502, 200 : 404" uct="-, 0.001 : -" ' +
      'uht="-, 0.004 : -" urt="0.001, 0.005 : 0.000" x=whatever goes tp="-"';
    expect(parser.parse(line)).toEqual({
      msec: 1700000000.123,
      requestTime: 0.01,
      requestId: RID,
      remoteAddr: '10.1.2.3',
      method: 'GET',
      requestUri: '/a?b=1',
      protocol: 'HTTP/1.1',
      status: 200,
      bodyBytesSent: 612,
      userAgent: 'Mozilla/5.0 "x" ü',
      upstreams: [
        { group: 0, address: '10.0.0.1:80', status: 502, connectTime: undefined, headerTime: undefined, responseTime: 0.001 },
        { group: 0, address: 'unix:/run/a b.sock', status: 200, connectTime: 0.001, headerTime: 0.004, responseTime: 0.005 },
        { group: 1, address: 'app', status: 404, connectTime: undefined, headerTime: undefined, responseTime: 0 },
      ],
      scheme: undefined,
      host: undefined,
      serverPort: undefined,
      requestLength: undefined,
      traceparent: undefined,
      tracestate: undefined,
      xAmznTraceId: undefined,
    });
  });

  it('says where a line stops matching', () => {
    expect(malformed(() => parser.parse('10.1.2.3 [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 612 xx=0.010'))).toBe(
      'expected " rt=" after $body_bytes_sent at column 63',
    );
    expect(malformed(() => parser.parse('10.1.2.3 14/Nov/2023'))).toBe('expected " [" after $remote_addr at column 9');
    expect(malformed(() => parser.parse(''))).toMatch(/^expected " \[" after \$remote_addr/);
    expect(malformed(() => compileLogFormat('[$msec]', 'default').parse('1700000000.000'))).toBe('expected "[" at column 1');
    expect(malformed(() => compileLogFormat('[$msec]', 'default').parse('[1700000000.000] extra'))).toBe(
      'expected "]" after $msec at the end of the line',
    );
    expect(malformed(() => compileLogFormat('$msec $status', 'default').parse('- 200'))).toMatch(/\$msec is missing/);
  });

  it('matches unknown variables by position without keeping them', () => {
    const p = compileLogFormat('$connection $http_x_forwarded_for "$cookie_a" $msec', 'default');
    const r = p.parse('17 10.0.0.1, 10.0.0.2 "k=v" 1700000000.5');
    expect(r.msec).toBe(1700000000.5);
  });

  it('escape=json: \\" inside a quoted value does not end it, \\\\" does', () => {
    const p = compileLogFormat('$msec "$http_user_agent" "$request_uri" $status', 'json');
    const r = p.parse('1700000000.000 "a \\"q\\" \\\\ \\t\\u001f ü" "/x\\\\" 200');
    expect(r.userAgent).toBe('a "q" \\ \t\u001f ü');
    expect(r.requestUri).toBe('/x\\');
    expect(r.status).toBe(200);
    // unset variables are empty with escape=json
    expect(p.parse('1700000000.000 "" "" 404').userAgent).toBeUndefined();
  });

  it('escape=none keeps values as written', () => {
    const p = compileLogFormat('$msec\t$http_user_agent\t$status', 'none');
    expect(p.parse('1700000000.000\tcurl \\x22 "\t200').userAgent).toBe('curl \\x22 "');
  });

  it('a value before the literal that ends the format may contain that literal (escape=none combined)', () => {
    const p = compileLogFormat(COMBINED_LOG_FORMAT.format, 'none');
    const r = p.parse('10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 0 "-" "evil" "agent""');
    expect(r.userAgent).toBe('evil" "agent"');
  });

  it('derives $msec from $time_local and method/uri/protocol from $request (combined)', () => {
    const p = compileLogFormat(COMBINED_LOG_FORMAT.format, COMBINED_LOG_FORMAT.escape);
    const r = p.parse('127.0.0.1 - bob [14/Nov/2023:23:13:20 +0100] "POST /api?x=1 HTTP/1.1" 201 7 "-" "curl/8 \\x22q\\x22"');
    expect(r.msec).toBe(1700000000);
    expect(r.method).toBe('POST');
    expect(r.requestUri).toBe('/api?x=1');
    expect(r.protocol).toBe('HTTP/1.1');
    expect(r.status).toBe(201);
    expect(r.userAgent).toBe('curl/8 "q"');
    expect(r.requestId).toMatch(/^[0-9a-f]{32}$/);
    // an absolute-form target: $request_uri is the path
    expect(p.parse('::1 - - [14/Nov/2023:23:13:20 +0100] "GET http://example.com/a?b HTTP/1.1" 200 0 "-" "-"').requestUri).toBe('/a?b');
    // a request line that is not one (TLS bytes sent to a plain port) leaves them unset
    const junk = p.parse('127.0.0.1 - - [14/Nov/2023:23:13:20 +0100] "\\x16\\x03\\x01" 400 150 "-" "-"');
    expect(junk.method).toBeUndefined();
    expect(junk.status).toBe(400);
    const iso = compileLogFormat('$time_iso8601 $status', 'default').parse('2023-11-14T23:13:20+01:00 200');
    expect(iso.msec).toBe(1700000000);
    // A Basic-auth user name holding " [" (nginx logs it even without auth_basic) cuts
    // $remote_user short: the line is malformed, and the message says where to look.
    expect(() => p.parse('127.0.0.1 - us er [x] [14/Nov/2023:23:13:20 +0100] "GET / HTTP/1.1" 200 3 "-" "curl/8"'))
      .toThrow(new MalformedLineError('$time_local "x] [14/Nov/2023:23:13:20 +0100" is not a time (a field before it may contain its delimiter)'));
  });
});

describe('JSON formats', () => {
  it('maps keys to the variable they hold and ignores everything else', () => {
    const map = jsonKeyMap(
      '{"ts":"$msec", "dur": $request_time, "id":"${request_id}", "host":"static", "combo":"$scheme://$host", ' +
        '"nested":{"a":"$status"}, "list":[1,"}"], "up" : "$upstream_addr", "esc\\"key":"$Status"}',
    );
    expect(map).toEqual(
      new Map([
        ['ts', 'msec'],
        ['dur', 'request_time'],
        ['id', 'request_id'],
        ['host', ''],
        ['combo', ''],
        ['nested', ''],
        ['list', ''],
        ['up', 'upstream_addr'],
        ['esc"key', 'status'],
      ]),
    );
  });

  it('compiles a JSON format into a JsonLineParser', () => {
    const p = compileLogFormat('  {"ts":"$msec","code":$status,"host":"static","up":"$upstream_addr"}', 'json');
    expect(p).toBeInstanceOf(JsonLineParser);
    const r = p.parse('{"ts":"1700000000.250","code":503,"host":"static","up":"10.0.0.1:80, 10.0.0.2:80"}');
    expect(r.msec).toBe(1700000000.25);
    expect(r.status).toBe(503);
    expect(r.host).toBeUndefined();
    expect(r.upstreams.map((u) => u.address)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('says what is wrong with a format that only looks like JSON', () => {
    expect(refusal('{"msec": "$msec" "x": 1}')).toMatch(/^log_format: the format looks like JSON but "," or "}" is expected at offset 17$/);
    expect(refusal('{"msec":"$msec"} trailing')).toMatch(/text follows the closing "}"/);
  });
});

describe('JsonLineParser and backslashes', () => {
  it('leaves the text \\x22 in an escape=json value alone, and still decodes escape=default lines', () => {
    const p = new JsonLineParser();
    expect(p.parse('{"msec":"1.5","http_user_agent":"a\\\\x22 \\"q\\""}').userAgent).toBe('a\\x22 "q"');
    expect(p.parse('{"msec":"1.5","http_user_agent":"\\x5Cx22 \\x22q\\x22 \\xC3\\xBC"}').userAgent).toBe('\\x22 "q" ü');
  });
});

describe('unescapeJson', () => {
  it('decodes what ngx_escape_json writes and keeps malformed escapes', () => {
    expect(unescapeJson('plain')).toBe('plain');
    expect(unescapeJson('\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9')).toBe('"\\/\b\f\n\r\t\u0001é');
    expect(unescapeJson('\\x41\\u12')).toBe('\\x41\\u12');
    expect(unescapeJson('end\\')).toBe('end\\');
  });
});

describe('createLineParser', () => {
  it('defaults to the recommended JSON format', () => {
    const p = createLineParser();
    expect(p).toBeInstanceOf(JsonLineParser);
    expect(p.parse(`{"msec":"1700000000.000","request_id":"${RID}","status":"200"}`).requestId).toBe(RID);
  });

  it('compiles --log-format with --escape, and knows combined by name', () => {
    expect(createLineParser({ logFormat: '$msec|$http_user_agent', escape: 'none' }).parse('1.5|a"b').userAgent).toBe('a"b');
    expect(createLineParser({ logFormatName: 'combined' }).parse('::1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/2.0" 200 0 "-" "-"').protocol).toBe('HTTP/2.0');
  });

  it('refuses contradictory options in one sentence', () => {
    expect(() => createLineParser({ logFormat: '$msec', nginxConf: '/etc/nginx/nginx.conf' })).toThrow(/cannot be combined/);
    expect(() => createLineParser({ escape: 'json' })).toThrow(/--escape applies to --log-format only/);
    expect(() => createLineParser({ nginxConf: '/etc/nginx/nginx.conf' })).toThrow(/needs --log-format-name/);
    expect(() => createLineParser({ logFormatName: 'main' })).toThrow(/needs --nginx-conf/);
  });
});
