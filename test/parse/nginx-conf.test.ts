// readLogFormat on real nginx configs: each config is first accepted (or refused) by
// `nginx -t`, so the tokenizer is checked against nginx's own reading of the same text.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileLogFormat } from '../../src/parse/log-format.js';
import { COMBINED_LOG_FORMAT, readLogFormat } from '../../src/parse/nginx-conf.js';
import { NGINX_BIN, nginxTest, renderNginxConf } from '../support/nginx.ts';

const hasNginx = existsSync(NGINX_BIN);

/** Writes files (path relative to dir → text) and returns the dir. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nos-conf-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('did not throw');
}

describe('readLogFormat on an nginx.conf with includes', () => {
  let dir: string;
  let conf: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nos-conf-'));
    dirs.push(dir);
    const http = `
    # log_format commented 'not this one';
    include conf.d/*.conf;          # a glob, relative to the directory of nginx.conf
    include snippets/outer.conf;    # which includes snippets/inner.conf, also relative to it
    include none/*.conf;            # matches nothing: fine for nginx too

    log_format  main  escape=json
        '{"msec":"$msec",'   # a comment between the parts
        "\\"uri\\":\\"$request_uri\\","
        '"ua":"$http_user_agent"}';
    log_format quoted_tab "$msec\\t$status\\t'$request'" ;
    log_format 'hash#name' '$msec #not-a-comment $status';
    log_format unquoted $msec|$status|\${request_time}s;
    log_format noescape escape=none '$msec "$http_user_agent"';

    server {
        listen 127.0.0.1:1;
        access_log ${join(dir, 'access.log')} main;
        location / { return 200; }
    }`;
    conf = join(dir, 'nginx.conf');
    writeFileSync(conf, renderNginxConf(dir, http, { includeOtelSnippets: false }));
    mkdirSync(join(dir, 'conf.d'));
    mkdirSync(join(dir, 'snippets'));
    writeFileSync(join(dir, 'conf.d/10-a.conf'), `log_format a '$remote_addr [$time_local] "$request" $status $msec';\n`);
    writeFileSync(join(dir, 'conf.d/20-b.conf'), `log_format b escape=default\n  '$msec '\n  '"$upstream_addr"'\n  ' rt=$request_time';\n`);
    writeFileSync(join(dir, 'conf.d/.hidden.conf'), `log_format hidden '$msec';\n`);
    writeFileSync(join(dir, 'conf.d/notes.txt'), `this is not nginx config {\n`);
    writeFileSync(join(dir, 'snippets/outer.conf'), `include snippets/inner.conf;\nlog_format outer '$msec outer';\n`);
    writeFileSync(join(dir, 'snippets/inner.conf'), `log_format inner escape=json '$msec inner';\n`);
  });

  it.skipIf(!hasNginx)('is a config nginx accepts', () => {
    nginxTest(conf);
  });

  it('reads formats from the main file, globbed and nested includes', () => {
    expect(readLogFormat(conf, 'main')).toEqual({ format: '{"msec":"$msec","uri":"$request_uri","ua":"$http_user_agent"}', escape: 'json' });
    expect(readLogFormat(conf, 'a')).toEqual({ format: '$remote_addr [$time_local] "$request" $status $msec', escape: 'default' });
    expect(readLogFormat(conf, 'b')).toEqual({ format: '$msec "$upstream_addr" rt=$request_time', escape: 'default' });
    expect(readLogFormat(conf, 'outer')).toEqual({ format: '$msec outer', escape: 'default' });
    expect(readLogFormat(conf, 'inner')).toEqual({ format: '$msec inner', escape: 'json' });
  });

  it('reads quotes, escapes, comments and unquoted words as nginx does', () => {
    expect(readLogFormat(conf, 'quoted_tab').format).toBe("$msec\t$status\t'$request'");
    expect(readLogFormat(conf, 'hash#name').format).toBe('$msec #not-a-comment $status');
    expect(readLogFormat(conf, 'unquoted').format).toBe('$msec|$status|${request_time}s');
    expect(readLogFormat(conf, 'noescape')).toEqual({ format: '$msec "$http_user_agent"', escape: 'none' });
  });

  it('knows the predefined combined format', () => {
    expect(readLogFormat(conf, 'combined')).toEqual(COMBINED_LOG_FORMAT);
  });

  it('lists the formats it found when the name is not there', () => {
    expect(message(() => readLogFormat(conf, 'hidden'))).toBe(
      `nginx config: log_format "hidden" is not defined in ${conf} or the files it includes; defined: a, b, inner, outer, main, quoted_tab, hash#name, unquoted, noescape, combined (predefined)`,
    );
  });

  it('what it reads compiles', () => {
    for (const name of ['main', 'a', 'b', 'outer', 'quoted_tab', 'unquoted', 'noescape', 'combined']) {
      const { format, escape } = readLogFormat(conf, name);
      expect(() => compileLogFormat(format, escape), name).not.toThrow();
    }
  });
});

describe('readLogFormat errors', () => {
  it('a missing config file', () => {
    expect(message(() => readLogFormat('/nonexistent/nginx.conf', 'main'))).toBe('nginx config /nonexistent/nginx.conf: not found');
  });

  it('a missing included file (not a glob), with where it was included', () => {
    const dir = tree({ 'nginx.conf': 'http {\n  include missing.conf;\n}\n' });
    dirs.push(dir);
    expect(message(() => readLogFormat(join(dir, 'nginx.conf'), 'x'))).toBe(
      `nginx config: included file ${join(dir, 'missing.conf')}: not found in ${join(dir, 'nginx.conf')}:2`,
    );
  });

  it.skipIf(!hasNginx)('a redefined combined and a duplicate name, refused like nginx -t does', () => {
    for (const [name, body, expected] of [
      ['combined', `log_format combined '$msec';`, /duplicate "log_format" name "combined" in .*nginx\.conf:\d+ \(nginx predefines it\)$/],
      ['twice', `log_format twice '$msec';\n    log_format twice '$status';`, /duplicate "log_format" name "twice" in .*:\d+ and .*:\d+$/],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'nos-conf-'));
      dirs.push(dir);
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, renderNginxConf(dir, `    ${body}\n    access_log ${join(dir, 'a.log')};`, { includeOtelSnippets: false }));
      expect(() => nginxTest(conf), name).toThrow(/duplicate "log_format" name/);
      expect(message(() => readLogFormat(conf, name))).toMatch(expected);
    }
  });

  it.skipIf(!hasNginx)('syntax errors nginx also reports, at the file and line nginx names', () => {
    for (const [text, expected] of [
      [`http {\n  log_format x '$msec'\n`, 'unexpected end of file, expecting ";" or "}"'],
      [`http {\n  log_format x '$msec''$status';\n}\n`, `unexpected "'"`],
      [`http {\n  log_format x '$msec;\n}\n`, "unexpected end of file, expecting \";\" or \"}\" (the ' opened at line 3 is never closed)"],
      [`http {\n}\n}\n`, 'unexpected "}"'],
      [`http {\n  log_format x escape=xml '$msec';\n}\n`, 'unknown log format escaping "xml"'],
    ] as const) {
      const dir = tree({ 'nginx.conf': `events {}\n${text}` });
      dirs.push(dir);
      const nginxSays = message(() => nginxTest(join(dir, 'nginx.conf')));
      const where = / in (\/\S+:\d+)/.exec(nginxSays)?.[1];
      expect(where, nginxSays).toBeDefined();
      const weSay = message(() => readLogFormat(join(dir, 'nginx.conf'), 'x'));
      expect(weSay, text).toContain(expected);
      expect(weSay, text).toMatch(new RegExp(` in ${where!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    }
  });

  it('skips stream {} log formats, takes top-level ones (a snippet meant for http {})', () => {
    const dir = tree({
      'nginx.conf': `stream {\n  log_format s '$remote_addr $protocol';\n}\nhttp {\n  include snippet.conf;\n}\n`,
      'snippet.conf': `log_format top '$msec top';\n`,
    });
    dirs.push(dir);
    expect(message(() => readLogFormat(join(dir, 'nginx.conf'), 's'))).toMatch(/"s" is not defined .*; defined: top, combined \(predefined\)$/);
    expect(readLogFormat(join(dir, 'snippet.conf'), 'top').format).toBe('$msec top');
  });

  it('resolves includes against the given prefix when the file read is itself an include', () => {
    const dir = tree({
      'etc/nginx.conf': 'http { include sites/site.conf; }\n',
      'etc/sites/site.conf': 'include formats.conf;\n',
      'etc/formats.conf': `log_format f '$msec f';\n`,
    });
    dirs.push(dir);
    expect(message(() => readLogFormat(join(dir, 'etc/sites/site.conf'), 'f'))).toMatch(/included file .*sites\/formats\.conf: not found/);
    expect(readLogFormat(join(dir, 'etc/sites/site.conf'), 'f', { prefix: join(dir, 'etc') }).format).toBe('$msec f');
  });
});
