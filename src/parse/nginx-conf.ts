import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { LogFormatEscape } from './log-format.js';

/** A log_format as nginx compiles it: its string parts joined, and its escape= parameter. */
export interface LogFormatDefinition {
  format: string;
  escape: LogFormatEscape;
}

/** nginx's predefined format (ngx_http_combined_fmt), used by `access_log <path>` without a format. */
export const COMBINED_LOG_FORMAT: LogFormatDefinition = {
  format: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
  escape: 'default',
};

export interface ReadLogFormatOptions {
  /**
   * Directory relative `include` paths are resolved against: nginx's conf prefix, which is
   * the directory of the main config file. Defaults to the directory of `confPath`, so pass
   * it when `confPath` is itself an included file living elsewhere.
   */
  prefix?: string;
}

/**
 * Finds `log_format <name>` in an nginx config, following `include` (globs too) the way nginx
 * does, and returns its joined string and escape mode. `combined` works without being
 * declared. Throws an Error with a one-sentence message when the file cannot be read, does not
 * parse, or has no such format (listing the names it has).
 */
export function readLogFormat(confPath: string, name: string, options: ReadLogFormatOptions = {}): LogFormatDefinition {
  const main = resolve(confPath);
  const prefix = resolve(options.prefix ?? dirname(main));
  const found: FoundFormat[] = [];
  const text = readConfigFile(main, undefined);
  walk(parseConfig(text, main), [], { prefix, found, depth: 0 });

  const matches = found.filter((f) => f.name === name);
  if (name === 'combined' && matches.length > 0) {
    throw new Error(`nginx config: duplicate "log_format" name "combined" in ${matches[0].at} (nginx predefines it)`);
  }
  if (matches.length > 1) {
    throw new Error(`nginx config: duplicate "log_format" name ${JSON.stringify(name)} in ${matches[0].at} and ${matches[1].at}`);
  }
  if (matches.length === 1) return matches[0].definition;
  if (name === 'combined') return { ...COMBINED_LOG_FORMAT };
  const names = [...new Set(found.map((f) => f.name)), 'combined (predefined)'];
  throw new Error(`nginx config: log_format ${JSON.stringify(name)} is not defined in ${main} or the files it includes; defined: ${names.join(', ')}`);
}

interface FoundFormat {
  name: string;
  definition: LogFormatDefinition;
  /** `file:line`, for messages. */
  at: string;
}

interface WalkState {
  prefix: string;
  found: FoundFormat[];
  depth: number;
}

/** Include nesting nginx would never reach in a sane config; beyond it we assume an include loop. */
const MAX_INCLUDE_DEPTH = 32;

function walk(directives: Directive[], context: string[], state: WalkState): void {
  for (const d of directives) {
    if (d.name === 'include' && d.block === undefined) {
      if (d.args.length !== 1) throw new ConfigError('"include" takes one path', d.file, d.line);
      if (state.depth >= MAX_INCLUDE_DEPTH) throw new ConfigError('includes nest too deeply (an include loop?)', d.file, d.line);
      for (const file of resolveInclude(d.args[0], state.prefix, d)) {
        walk(parseConfig(readConfigFile(file, d), file), context, { ...state, depth: state.depth + 1 });
      }
      continue;
    }
    if (d.name === 'log_format' && d.block === undefined && isHttpLevel(context)) {
      state.found.push({ name: d.args[0] ?? '', definition: toDefinition(d), at: `${d.file}:${d.line}` });
      continue;
    }
    if (d.block !== undefined) walk(d.block, [...context, d.name], state);
  }
}

/**
 * `log_format` of the http module lives directly in `http { }`. A file with log_format at its
 * top level is taken to be a snippet meant for inclusion there (like nginx/otel-log-format.conf);
 * `stream { }` has a log_format of its own, with other variables, which is skipped.
 */
function isHttpLevel(context: string[]): boolean {
  return context.length === 0 || (context.length === 1 && context[0] === 'http');
}

function toDefinition(d: Directive): LogFormatDefinition {
  if (d.args.length < 2) throw new ConfigError('"log_format" needs a name and a format', d.file, d.line);
  let escape: LogFormatEscape = 'default';
  let first = 1;
  if (d.args[1].startsWith('escape=')) {
    const value = d.args[1].slice('escape='.length);
    if (value !== 'default' && value !== 'json' && value !== 'none') {
      throw new ConfigError(`unknown log format escaping ${JSON.stringify(value)}`, d.file, d.line);
    }
    escape = value;
    first = 2;
  }
  // nginx compiles the remaining arguments one after another: 'a' 'b' is "ab".
  return { format: d.args.slice(first).join(''), escape };
}

// ---------------------------------------------------------------------------------------------
// Files and includes.

function readConfigFile(path: string, from: Directive | undefined): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    if (from === undefined) throw new Error(`nginx config ${path}: ${why}`);
    throw new ConfigError(`included file ${path}: ${why}`, from.file, from.line);
  }
}

/** The files an `include` names: one path, or the sorted matches of a glob (none is fine, as in nginx). */
function resolveInclude(pattern: string, prefix: string, from: Directive): string[] {
  const path = isAbsolute(pattern) ? pattern : join(prefix, pattern);
  if (!/[*?[]/.test(path)) return [path];
  try {
    return expandGlob(path);
  } catch (err) {
    throw new ConfigError(`cannot expand include ${JSON.stringify(pattern)}: ${(err as Error).message}`, from.file, from.line);
  }
}

/**
 * glob(3) as nginx calls it (no flags): `*`, `?` and `[...]` within one path segment; a
 * leading `.` is matched only explicitly; results sorted byte-wise (C locale).
 */
function expandGlob(pattern: string): string[] {
  const segments = pattern.split('/');
  let bases = [pattern.startsWith('/') ? '/' : '.'];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '') continue;
    const last = i === segments.length - 1;
    const next: string[] = [];
    if (!/[*?[]/.test(segment)) {
      const literal = segment.replace(/\\(.)/g, '$1');
      for (const base of bases) {
        const path = join(base, literal);
        if (exists(path, !last)) next.push(path);
      }
    } else {
      const re = globSegmentRegExp(segment);
      for (const base of bases) {
        let names: string[];
        try {
          names = readdirSync(base);
        } catch {
          continue;
        }
        for (const name of names) {
          if (name.startsWith('.') && !segment.startsWith('.')) continue;
          if (!re.test(name)) continue;
          const path = join(base, name);
          if (last || exists(path, true)) next.push(path);
        }
      }
    }
    bases = next;
  }
  return bases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function exists(path: string, directory: boolean): boolean {
  try {
    const s = statSync(path);
    return directory ? s.isDirectory() : true;
  } catch {
    return false;
  }
}

function globSegmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\' && i + 1 < segment.length) {
      source += escapeRegExp(segment[++i]);
    } else if (c === '*') {
      source += '.*';
    } else if (c === '?') {
      source += '.';
    } else if (c === '[') {
      const close = segment.indexOf(']', i + (segment[i + 1] === '!' || segment[i + 1] === '^' ? 3 : 2));
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`, 's');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Tokenizing, after ngx_conf_read_token.

interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
  file: string;
  line: number;
}

class ConfigError extends Error {
  constructor(message: string, file: string, line: number) {
    super(`nginx config: ${message} in ${file}:${line}`);
  }
}

/**
 * Parses one config file into directives and blocks, with nginx's own rules: words split at
 * whitespace, `;`, `{`; `'...'` and `"..."` quote (and must be followed by whitespace, `;`,
 * `{` or `)`); `\` protects the next character, and `\"`, `\'`, `\\`, `\t`, `\r`, `\n` are
 * unescaped in every word; `#` starts a comment only at the start of a word; `${` inside an
 * unquoted word does not open a block.
 */
export function parseConfig(text: string, file: string): Directive[] {
  const root: Directive[] = [];
  const stack: { list: Directive[]; line: number }[] = [];
  let list = root;
  let args: string[] = [];
  let argsLine = 1;
  let line = 1;

  let i = 0;
  const n = text.length;
  const fail = (message: string, at = line): never => {
    throw new ConfigError(message, file, at);
  };
  const endDirective = (block: boolean): void => {
    if (args.length === 0) fail(`unexpected "${block ? '{' : ';'}"`);
    const d: Directive = { name: args[0], args: args.slice(1), file, line: argsLine };
    list.push(d);
    if (block) {
      d.block = [];
      stack.push({ list, line });
      list = d.block;
    }
    args = [];
  };

  while (i < n) {
    const ch = text[i];
    if (ch === '\n') {
      line++;
      i++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
      continue;
    }
    if (ch === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (ch === ';' || ch === '{') {
      endDirective(ch === '{');
      i++;
      continue;
    }
    if (ch === '}') {
      if (args.length !== 0) fail('unexpected "}"');
      const parent = stack.pop();
      if (parent === undefined) fail('unexpected "}"');
      list = parent!.list;
      i++;
      continue;
    }

    // A word.
    if (args.length === 0) argsLine = line;
    const wordLine = line;
    let raw: string;
    if (ch === '"' || ch === "'") {
      const start = i + 1;
      let j = start;
      while (j < n && text[j] !== ch) {
        if (text[j] === '\\') j++;
        if (text[j] === '\n') line++;
        j++;
      }
      if (j >= n) fail(`unexpected end of file, expecting ";" or "}" (the ${ch} opened at line ${wordLine} is never closed)`);
      raw = text.slice(start, j);
      i = j + 1;
      const after = text[i];
      if (i < n && after !== ' ' && after !== '\t' && after !== '\r' && after !== '\n' && after !== ';' && after !== '{' && after !== ')') {
        fail(`unexpected "${after}"`);
      }
      if (after === ')') i++;
    } else {
      const start = i;
      let j = i;
      let variable = false;
      while (j < n) {
        const c = text[j];
        if (c === '{' && variable) {
          j++;
          variable = false;
          continue;
        }
        variable = false;
        if (c === '\\') {
          if (text[j + 1] === '\n') line++;
          j += 2;
          continue;
        }
        if (c === '$') {
          variable = true;
          j++;
          continue;
        }
        if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === ';' || c === '{') break;
        j++;
      }
      raw = text.slice(start, Math.min(j, n));
      i = j;
    }
    args.push(unescapeWord(raw));
  }
  if (args.length !== 0) fail('unexpected end of file, expecting ";" or "}"');
  if (stack.length !== 0) fail('unexpected end of file, expecting "}"');
  return root;
}

function unescapeWord(raw: string): string {
  if (raw.indexOf('\\') === -1) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) {
      const e = raw[i + 1];
      if (e === '"' || e === "'" || e === '\\') {
        out += e;
        i++;
        continue;
      }
      if (e === 't' || e === 'r' || e === 'n') {
        out += e === 't' ? '\t' : e === 'r' ? '\r' : '\n';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}
