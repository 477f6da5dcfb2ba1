import { KNOWN_VARIABLES, MalformedLineError, UPSTREAM_LIST_VARIABLES, type AccessRecord, type NginxVariables } from './access-record.js';
import { JsonLineParser } from './json-line-parser.js';
import type { LineParser } from './line-parser.js';
import { unescapeNginxDefault } from './nginx-escape.js';
import { toAccessRecord } from './to-record.js';

/** The `escape=` parameter of nginx's `log_format`. */
export type LogFormatEscape = 'default' | 'json' | 'none';

/**
 * One piece of a log_format string: literal text, or a variable: `variable` is its name
 * lowercased (nginx looks variables up case-insensitively), `spelled` as written, both without `$`.
 */
export type FormatPart = { literal: string } | { variable: string; spelled: string };

/**
 * Compiles an nginx `log_format` string (all of its quoted parts already joined, as nginx
 * does) into a parser for the lines nginx writes with it. Throws an Error with a one-sentence
 * message when the format cannot be parsed unambiguously or lacks a time for the span.
 *
 * A format that starts with `{` is taken to be JSON and parsed with JsonLineParser, its keys
 * mapped to the variables they hold (`"upstream": "$upstream_addr"`).
 */
export function compileLogFormat(format: string, escape: LogFormatEscape = 'default'): LineParser {
  if (escape !== 'default' && escape !== 'json' && escape !== 'none') {
    throw new Error(`log_format: unknown escape ${JSON.stringify(escape)}; use default, json or none`);
  }
  if (format.trimStart().startsWith('{')) return new JsonLineParser(jsonKeyMap(format));
  return new TextLineParser(format, escape);
}

// ---------------------------------------------------------------------------------------------
// Splitting a format into literals and variables, exactly as ngx_http_log_compile_format does.

/** Splits a format into literal text and variables (`$name`, `${name}`). */
export function splitLogFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const ch = format[i];
    if (ch !== '$') {
      literal += ch;
      i++;
      continue;
    }
    const start = i;
    i++;
    const bracket = format[i] === '{';
    if (bracket) i++;
    const nameStart = i;
    while (i < format.length && isNameChar(format.charCodeAt(i))) i++;
    const name = format.slice(nameStart, i);
    if (bracket) {
      if (format[i] !== '}') throw new Error(`log_format: the closing bracket in "\${${name}" is missing`);
      i++;
    }
    if (name === '') throw new Error(`log_format: "$" at offset ${start} is not followed by a variable name`);
    if (literal !== '') parts.push({ literal });
    literal = '';
    parts.push({ variable: name.toLowerCase(), spelled: name });
  }
  if (literal !== '') parts.push({ literal });
  return parts;
}

function isNameChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

// ---------------------------------------------------------------------------------------------
// JSON formats.

/** Marks JSON keys whose value is not a single variable: JsonLineParser files them under this name, which no variable has. */
const IGNORED_KEY = '';

const SINGLE_VARIABLE = /^\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))$/;

/**
 * Reads the key → variable map of a JSON log_format such as
 * `{"ts":"$msec","up":"$upstream_addr","n":$status}`. Keys whose value is not exactly one
 * variable (constants, `"$a $b"`, nested objects) are mapped to a name no variable has, so a
 * constant under a key like `"host"` is not taken for `$host`.
 */
export function jsonKeyMap(format: string): Map<string, string> {
  const map = new Map<string, string>();
  const fail = (what: string, at: number): never => {
    throw new Error(`log_format: the format looks like JSON but ${what} at offset ${at}`);
  };
  let i = skipSpace(format, 0);
  if (format[i] !== '{') fail('does not start with "{"', i);
  i = skipSpace(format, i + 1);
  if (format[i] === '}') i = format.length; // empty object
  while (i < format.length) {
    if (format[i] !== '"') fail('a key is expected', i);
    const keyEnd = endOfJsonString(format, i);
    if (keyEnd < 0) fail('a key is not terminated', i);
    let key: string;
    try {
      key = JSON.parse(format.slice(i, keyEnd + 1)) as string;
    } catch {
      return fail('a key is not a valid JSON string', i);
    }
    i = skipSpace(format, keyEnd + 1);
    if (format[i] !== ':') fail('":" is expected', i);
    i = skipSpace(format, i + 1);
    let value: string | undefined;
    if (format[i] === '"') {
      const end = endOfJsonString(format, i);
      if (end < 0) fail('a value is not terminated', i);
      value = format.slice(i + 1, end);
      i = end + 1;
    } else if (format[i] === '{' || format[i] === '[') {
      i = endOfNested(format, i);
      if (i < 0) fail('a nested value is not closed', i);
    } else {
      const start = i;
      while (i < format.length && format[i] !== ',' && format[i] !== '}' && !isSpace(format.charCodeAt(i))) i++;
      if (i === start) fail('a value is expected', i);
      value = format.slice(start, i);
    }
    const m = value === undefined ? null : SINGLE_VARIABLE.exec(value);
    map.set(key, m ? (m[1] ?? m[2]).toLowerCase() : IGNORED_KEY);
    i = skipSpace(format, i);
    if (format[i] === ',') {
      i = skipSpace(format, i + 1);
      continue;
    }
    if (format[i] === '}') {
      if (skipSpace(format, i + 1) !== format.length) fail('text follows the closing "}"', i + 1);
      break;
    }
    fail('"," or "}" is expected', i);
  }
  if (![...map.values()].includes('msec')) {
    throw new Error('log_format: the JSON format has no "$msec" value, which every span needs for its end time; add e.g. "msec":"$msec"');
  }
  return map;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** Index of the quote closing the JSON string that opens at `start`, or -1. */
function endOfJsonString(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '"') return i;
  }
  return -1;
}

/** Index just past the object/array opening at `start`, or -1. */
function endOfNested(s: string, start: number): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      i = endOfJsonString(s, i);
      if (i < 0) return -1;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// What the values of variables can contain.

/** A set of UTF-16 code units: ASCII individually, everything above 0x7F as one flag. */
class CharSet {
  readonly ascii = new Uint8Array(128);
  nonAscii = false;

  static of(chars: string, nonAscii = false): CharSet {
    const set = new CharSet();
    for (let i = 0; i < chars.length; i++) set.add(chars.charCodeAt(i));
    set.nonAscii = nonAscii;
    return set;
  }

  static all(): CharSet {
    const set = new CharSet();
    set.ascii.fill(1);
    set.nonAscii = true;
    return set;
  }

  add(c: number): void {
    if (c < 128) this.ascii[c] = 1;
    else this.nonAscii = true;
  }

  addAll(chars: string): void {
    for (let i = 0; i < chars.length; i++) this.add(chars.charCodeAt(i));
  }

  has(c: number): boolean {
    return c < 128 ? this.ascii[c] === 1 : this.nonAscii;
  }

  without(chars: string): CharSet {
    const set = new CharSet();
    set.ascii.set(this.ascii);
    set.nonAscii = this.nonAscii;
    for (let i = 0; i < chars.length; i++) set.ascii[chars.charCodeAt(i)] = 0;
    return set;
  }

  /** A character of `other` that is also in this set, or undefined. */
  overlap(other: CharSet): string | undefined {
    for (let c = 0; c < 128; c++) if (this.ascii[c] === 1 && other.ascii[c] === 1) return String.fromCharCode(c);
    return this.nonAscii && other.nonAscii ? 'non-ASCII' : undefined;
  }
}

interface VariableInfo {
  /** Characters the raw value (before nginx escapes it) can contain. */
  chars: CharSet;
  /** Characters the raw value can start with (when narrower than `chars`). */
  first?: CharSet;
  /** The value always has this many characters. */
  fixedLength?: number;
  /**
   * Written by the log module itself (ngx_http_log_vars): never escaped, never `-` or empty.
   * nginx matches these names case-sensitively, so only the lowercase spelling counts.
   */
  logModule?: boolean;
  /** A list with `", "` between tries and `" : "` between groups; an example for error messages. */
  listExample?: string;
}

const DIGITS = '0123456789';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LIST_SEPARATORS = ', :';
/**
 * `$upstream_addr` entries are `host:port`, `[v6]:port`, `unix:/path` or, when no server of
 * the group could be tried, the group's name. Assumed: socket paths and names use no
 * characters beyond these (no spaces, quotes, `=`, `|`, `;`, tabs...).
 */
const UPSTREAM_ADDRESS = CharSet.of(`${LETTERS}${DIGITS}._-:/[]@~+%${LIST_SEPARATORS}`);
const UPSTREAM_NUMBERS = CharSet.of(`${DIGITS}.-${LIST_SEPARATORS}`);
const NO_SLASH = CharSet.all().without('/');

const LOG_MODULE_NUMBER: VariableInfo = { chars: CharSet.of(DIGITS), logModule: true };
const LOG_MODULE_DECIMAL: VariableInfo = { chars: CharSet.of(`${DIGITS}.`), logModule: true };
const NUMBER: VariableInfo = { chars: CharSet.of(DIGITS) };
const IP_ADDRESS: VariableInfo = { chars: CharSet.of(`${LETTERS}${DIGITS}.:`) };
const HOST_NAME: VariableInfo = { chars: NO_SLASH };
const URI: VariableInfo = { chars: CharSet.all(), first: CharSet.of('/') };
const ANY: VariableInfo = { chars: CharSet.all() };

const VARIABLES: Record<string, VariableInfo> = {
  msec: LOG_MODULE_DECIMAL,
  request_time: LOG_MODULE_DECIMAL,
  status: LOG_MODULE_NUMBER,
  bytes_sent: LOG_MODULE_NUMBER,
  body_bytes_sent: LOG_MODULE_NUMBER,
  request_length: LOG_MODULE_NUMBER,
  time_local: { chars: CharSet.of(`${LETTERS}${DIGITS}/: +-`), fixedLength: 26, logModule: true },
  time_iso8601: { chars: CharSet.of(`${DIGITS}T:+-`), fixedLength: 25, logModule: true },
  pipe: { chars: CharSet.of('p.'), fixedLength: 1, logModule: true },
  request_id: { chars: CharSet.of('0123456789abcdef') },
  connection: NUMBER,
  connection_requests: NUMBER,
  server_port: NUMBER,
  remote_port: NUMBER,
  pid: NUMBER,
  scheme: { chars: CharSet.of('abcdefghijklmnopqrstuvwxyz') },
  remote_addr: IP_ADDRESS,
  server_addr: IP_ADDRESS,
  realip_remote_addr: IP_ADDRESS,
  host: HOST_NAME,
  http_host: HOST_NAME,
  server_name: HOST_NAME,
  hostname: HOST_NAME,
  request_uri: URI,
  uri: URI,
  document_uri: URI,
  upstream_addr: { chars: UPSTREAM_ADDRESS, listExample: '10.0.0.1:80, 10.0.0.2:80 : unix:/run/app.sock' },
  upstream_status: { chars: UPSTREAM_NUMBERS, listExample: '502, 200 : 404' },
  upstream_connect_time: { chars: UPSTREAM_NUMBERS, listExample: '-, 0.001 : 0.002' },
  upstream_header_time: { chars: UPSTREAM_NUMBERS, listExample: '-, 0.004 : 0.003' },
  upstream_response_time: { chars: UPSTREAM_NUMBERS, listExample: '0.001, 0.004 : 0.003' },
  upstream_queue_time: { chars: UPSTREAM_NUMBERS, listExample: '0.000, 0.000 : 0.000' },
  upstream_response_length: { chars: UPSTREAM_NUMBERS, listExample: '0, 157 : 42' },
  upstream_bytes_received: { chars: UPSTREAM_NUMBERS, listExample: '0, 157 : 42' },
  upstream_bytes_sent: { chars: UPSTREAM_NUMBERS, listExample: '0, 96 : 96' },
};

function variableInfo(name: string, spelled: string): VariableInfo {
  const info = VARIABLES[name] ?? ANY;
  // `$MSEC` is the core variable, not the log module's: escaped like any other.
  if (info.logModule && spelled !== name) return { ...info, logModule: false };
  return info;
}

for (const name of UPSTREAM_LIST_VARIABLES) {
  if (VARIABLES[name]?.listExample === undefined) throw new Error(`log-format: no list description for $${name}`);
}

const HEX = '0123456789ABCDEFabcdef';

/** The characters nginx can write for a variable whose raw value is drawn from `raw`. */
function escapedChars(raw: CharSet, escape: LogFormatEscape, logModule: boolean | undefined): CharSet {
  if (logModule) return raw;
  const out = new CharSet();
  let escaped = false;
  for (let c = 0; c < 128; c++) {
    if (raw.ascii[c] !== 1) continue;
    if (escape === 'default') {
      if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f) escaped = true;
      else out.add(c);
    } else if (escape === 'json') {
      if (c < 0x20 || c === 0x22 || c === 0x5c) escaped = true;
      if (c >= 0x20) out.add(c); // `"` and `\` stay, after a backslash
    } else {
      out.add(c);
    }
  }
  if (raw.nonAscii) {
    if (escape === 'default') escaped = true;
    else out.nonAscii = true;
  }
  if (escape === 'default') {
    if (escaped) out.addAll(`\\x${HEX}`);
    out.add(0x2d); // an unset variable is written as "-"
  } else if (escape === 'json' && escaped) {
    out.addAll(`\\"bfnrtu${HEX}`);
  }
  return out;
}

/** The characters nginx's output for a variable can start with (a set value; not `-` for unset). */
function escapedFirstChars(info: VariableInfo, escape: LogFormatEscape): CharSet {
  const raw = info.first ?? info.chars;
  if (info.logModule || escape === 'none') return raw;
  const out = new CharSet();
  for (let c = 0; c < 128; c++) {
    if (raw.ascii[c] !== 1) continue;
    const escaped = escape === 'default' ? c < 0x20 || c === 0x22 || c === 0x5c || c === 0x7f : c < 0x20 || c === 0x22 || c === 0x5c;
    out.add(escaped ? 0x5c : c);
  }
  if (raw.nonAscii) {
    if (escape === 'default') out.add(0x5c);
    else out.nonAscii = true;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text formats.

/** The variables worth decoding and keeping: what toAccessRecord reads, and what we derive it from. */
const KEPT = new Set<string>([...KNOWN_VARIABLES, 'request']);

/** How a variable's value ends. */
const Mode = {
  /** Up to the first occurrence of the literal that follows. */
  Until: 0,
  /** escape=json, literal starts with `"`: up to the first `"` not escaped by a backslash. */
  UntilUnescapedQuote: 1,
  /** Exactly `length` characters. */
  Fixed: 2,
  /** As long as the characters can belong to the value (the next variable cannot start with one). */
  Charset: 3,
  /** To the end of the line. */
  Rest: 4,
  /** Up to the literal that ends the format, which must end the line: exact whatever the value holds. */
  UntilEnd: 5,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

interface Step {
  /** Literal text expected at this point ('' when none). */
  literal: string;
  /** The literal was already found by the previous variable's search. */
  literalFound: boolean;
  /** The variable that follows the literal ('' for a trailing literal). */
  name: string;
  /** How the variable appears in messages (`$upstream_addr`), or the previous variable for a trailing literal. */
  label: string;
  keep: boolean;
  mode: Mode;
  /** Literal that ends the value (Until, UntilUnescapedQuote). */
  delimiter: string;
  length: number;
  chars: Uint8Array;
  charsNonAscii: boolean;
  decode: ((value: string) => string) | null;
}

/**
 * A compiled text log_format.
 *
 * Hand-written scanner rather than one RegExp built from the format: each variable's end is
 * found with `indexOf` of the literal after it (or by a fixed length, or a character class),
 * so a line is scanned once, left to right, and a line that does not match fails in linear
 * time instead of backtracking through every split of a chain of lazy `(.*?)` groups. It also
 * handles what a regex cannot say plainly: a `"` escaped as `\"` (escape=json) does not end
 * a quoted value, but one after `\\` does. The value before the literal that ends the format
 * runs to that literal at the end of the line. For every other variable the compile step
 * checks that the literal after it cannot occur inside its value, and refuses the format where
 * that fails for a list-valued `$upstream_*` variable, whose values contain `", "` and `" : "`
 * (for free text such as an unquoted `$http_user_agent` the first occurrence wins, as in every
 * log parser).
 */
class TextLineParser implements LineParser {
  private readonly steps: Step[];
  private readonly deriveRequest: boolean;
  private readonly timeFallback: 'time_local' | 'time_iso8601' | undefined;
  private readonly has: ReadonlySet<string>;

  constructor(format: string, escape: LogFormatEscape) {
    const parts = splitLogFormat(format);
    const names = new Set(parts.flatMap((p) => ('variable' in p ? [p.variable] : [])));
    this.has = names;
    if (!names.has('msec') && !names.has('time_local') && !names.has('time_iso8601')) {
      throw new Error('log_format: the format has no $msec, which every span needs for its end time; add $msec (or at least $time_local or $time_iso8601, which give whole seconds)');
    }
    this.timeFallback = names.has('msec') ? undefined : names.has('time_local') ? 'time_local' : 'time_iso8601';
    this.deriveRequest = names.has('request') && !(names.has('request_method') && names.has('request_uri') && names.has('server_protocol'));
    this.steps = compileSteps(parts, escape);
  }

  parse(line: string): AccessRecord {
    const vars: NginxVariables = {};
    const steps = this.steps;
    const length = line.length;
    let pos = 0;
    let previous = '';
    for (let s = 0; s < steps.length; s++) {
      const step = steps[s];
      const literal = step.literal;
      if (literal !== '') {
        if (!step.literalFound && !line.startsWith(literal, pos)) {
          throw new MalformedLineError(`expected ${JSON.stringify(literal)}${previous} at column ${pos + 1}`);
        }
        pos += literal.length;
      }
      if (step.name === '') continue;
      const start = pos;
      switch (step.mode) {
        case Mode.Until: {
          const end = line.indexOf(step.delimiter, pos);
          if (end < 0) throw new MalformedLineError(`expected ${JSON.stringify(step.delimiter)} after ${step.label} at column ${endOfRun(line, pos, step) + 1}`);
          pos = end;
          break;
        }
        case Mode.UntilUnescapedQuote: {
          pos = untilUnescapedQuote(line, pos, step.delimiter);
          if (pos < 0) throw new MalformedLineError(`expected ${JSON.stringify(step.delimiter)} after ${step.label} at column ${endOfRun(line, start, step) + 1}`);
          break;
        }
        case Mode.Fixed:
          pos += step.length;
          if (pos > length) throw new MalformedLineError(`expected ${step.label} (${step.length} characters) at column ${start + 1}`);
          break;
        case Mode.Charset:
          pos = endOfRun(line, pos, step);
          break;
        case Mode.Rest:
          pos = length;
          break;
        case Mode.UntilEnd: {
          const end = length - step.delimiter.length;
          if (end < pos || !line.endsWith(step.delimiter)) {
            throw new MalformedLineError(`expected ${JSON.stringify(step.delimiter)} after ${step.label} at the end of the line`);
          }
          pos = end;
          break;
        }
      }
      if (step.keep) {
        const raw = line.slice(start, pos);
        vars[step.name] = step.decode === null ? raw : step.decode(raw);
      }
      previous = ` after ${step.label}`;
    }
    if (pos !== length) throw new MalformedLineError(`unexpected text at column ${pos + 1} after the end of the format`);
    if (this.timeFallback !== undefined) deriveMsec(vars, this.timeFallback);
    if (this.deriveRequest) deriveRequestParts(vars, this.has);
    return toAccessRecord(vars, line);
  }
}

/** Where the run of characters that can belong to the step's value, starting at `pos`, ends. */
function endOfRun(line: string, pos: number, step: Step): number {
  const chars = step.chars;
  const nonAscii = step.charsNonAscii;
  const length = line.length;
  while (pos < length) {
    const c = line.charCodeAt(pos);
    if (c < 128 ? chars[c] !== 1 : !nonAscii) break;
    pos++;
  }
  return pos;
}

/** Position of the first `delimiter` (which starts with `"`) whose quote is not escaped as `\"`. */
function untilUnescapedQuote(line: string, from: number, delimiter: string): number {
  let at = line.indexOf(delimiter, from);
  while (at >= 0) {
    let backslashes = 0;
    for (let i = at - 1; i >= from && line.charCodeAt(i) === 0x5c; i--) backslashes++;
    if ((backslashes & 1) === 0) return at;
    at = line.indexOf(delimiter, at + 1);
  }
  return -1;
}

function compileSteps(parts: FormatPart[], escape: LogFormatEscape): Step[] {
  const steps: Step[] = [];
  let pendingLiteral = '';
  let pendingFound = false;
  let lastLabel = '';
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    if ('literal' in part) {
      pendingLiteral = part.literal;
      continue;
    }
    const name = part.variable;
    const info = variableInfo(name, part.spelled);
    const label = `$${name}`;
    const chars = escapedChars(info.chars, escape, info.logModule);
    const next = parts[p + 1];
    const step: Step = {
      literal: pendingLiteral,
      literalFound: pendingFound,
      name,
      label,
      keep: KEPT.has(name),
      mode: Mode.Rest,
      delimiter: '',
      length: 0,
      chars: chars.ascii,
      charsNonAscii: chars.nonAscii,
      decode: info.logModule ? null : decoderFor(escape),
    };
    pendingLiteral = '';
    pendingFound = false;
    if (next === undefined) {
      step.mode = Mode.Rest;
    } else if ('literal' in next) {
      const delimiter = next.literal;
      if (p + 2 === parts.length) {
        step.mode = Mode.UntilEnd;
        pendingFound = true;
      } else if (!canOccurInside(delimiter, chars)) {
        step.mode = Mode.Until;
        pendingFound = true;
      } else if (escape === 'json' && delimiter.startsWith('"') && !info.logModule) {
        step.mode = Mode.UntilUnescapedQuote;
        pendingFound = true;
      } else if (info.fixedLength !== undefined) {
        step.mode = Mode.Fixed;
        step.length = info.fixedLength;
      } else if (info.listExample !== undefined) {
        throw new Error(
          `log_format: ${label} is followed by ${JSON.stringify(delimiter)} which also occurs inside its value (${JSON.stringify(info.listExample)}); put it in quotes or end it with a character that cannot occur in it`,
        );
      } else {
        // Not provably safe (e.g. an unquoted $http_user_agent followed by " "): the first
        // occurrence wins, as in every log parser. Only lists are refused (see above).
        step.mode = Mode.Until;
        pendingFound = true;
      }
      step.delimiter = delimiter;
    } else {
      const nextInfo = variableInfo(next.variable, next.spelled);
      const clash = escapedFirstChars(nextInfo, escape).overlap(chars);
      if (info.fixedLength !== undefined) {
        step.mode = Mode.Fixed;
        step.length = info.fixedLength;
      } else if (clash === undefined && info.listExample === undefined) {
        step.mode = Mode.Charset;
      } else {
        const list = info.listExample !== undefined ? info : nextInfo.listExample !== undefined ? nextInfo : undefined;
        const listName = list === info ? label : `$${next.variable}`;
        throw new Error(
          `log_format: ${label} is directly followed by $${next.variable} with no text between them, so where one value ends and the other begins cannot be told${
            list !== undefined ? ` (${listName} is a list such as ${JSON.stringify(list.listExample)})` : ''
          }; put a delimiter between them that cannot occur in ${label}`,
        );
      }
    }
    steps.push(step);
    lastLabel = label;
  }
  if (pendingLiteral !== '') {
    steps.push({
      literal: pendingLiteral,
      literalFound: pendingFound,
      name: '',
      label: lastLabel,
      keep: false,
      mode: Mode.Rest,
      delimiter: '',
      length: 0,
      chars: new Uint8Array(0),
      charsNonAscii: false,
      decode: null,
    });
  }
  return steps;
}

/**
 * Whether `literal` could appear inside (or straddle the end of) a value drawn from `chars`.
 * A literal holding one character the value can never contain cannot: an occurrence starting
 * inside the value would have to put that character inside it, or repeat the literal with a
 * period made of value characters, which would put it there too.
 */
function canOccurInside(literal: string, chars: CharSet): boolean {
  for (let i = 0; i < literal.length; i++) if (!chars.has(literal.charCodeAt(i))) return false;
  return true;
}

function decoderFor(escape: LogFormatEscape): ((value: string) => string) | null {
  if (escape === 'default') return unescapeNginxDefault;
  if (escape === 'json') return unescapeJson;
  return null;
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Undoes escape=json (`\"`, `\\`, `\n`, `\u001f`...); anything malformed is kept as written. */
export function unescapeJson(value: string): string {
  let i = value.indexOf('\\');
  if (i === -1) return value;
  let out = value.slice(0, i);
  while (i < value.length) {
    const c = value[i];
    if (c !== '\\' || i + 1 === value.length) {
      out += c;
      i++;
      continue;
    }
    const e = value[i + 1];
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      i += 2;
    } else if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(value.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(value.slice(i + 2, i + 6), 16));
      i += 6;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Filling in what a format like `combined` only has in another form.

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const TIME_LOCAL = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

/** `$msec` from `$time_local` (`26/Nov/2025:16:31:00 +0100`) or `$time_iso8601`, to the second. */
function deriveMsec(vars: NginxVariables, from: 'time_local' | 'time_iso8601'): void {
  const text = vars[from];
  if (text === undefined) return;
  let ms = NaN;
  if (from === 'time_local') {
    const m = TIME_LOCAL.exec(text);
    const month = m ? MONTHS[m[2]] : undefined;
    if (m && month !== undefined) {
      const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
      ms = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset * 60_000;
    }
  } else {
    ms = Date.parse(text);
  }
  // Most often a field before it held the text that ends it (a " [" in $remote_user, say).
  if (!Number.isFinite(ms)) throw new MalformedLineError(`$${from} ${JSON.stringify(text)} is not a time (a field before it may contain its delimiter)`);
  vars.msec = String(ms / 1000);
}

const METHOD = /^[A-Z_-]+$/;
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** `$request_method`, `$request_uri`, `$server_protocol` from `$request` ("GET /a?b HTTP/1.1"), where the format lacks them. */
function deriveRequestParts(vars: NginxVariables, has: ReadonlySet<string>): void {
  const request = vars.request;
  if (request === undefined) return;
  const first = request.indexOf(' ');
  if (first <= 0) return;
  const method = request.slice(0, first);
  if (!METHOD.test(method)) return; // not an HTTP request line (a TLS handshake sent to a plain port...)
  const last = request.lastIndexOf(' ');
  let uri = request.slice(first + 1);
  let protocol: string | undefined;
  if (last > first && request.startsWith('HTTP/', last + 1)) {
    uri = request.slice(first + 1, last);
    protocol = request.slice(last + 1);
  }
  // An absolute-form target ("GET http://example.com/a HTTP/1.1"): $request_uri is only "/a".
  if (ABSOLUTE_FORM.test(uri)) {
    const path = uri.indexOf('/', uri.indexOf('//') + 2);
    uri = path < 0 ? '/' : uri.slice(path);
  }
  if (!has.has('request_method')) vars.request_method = method;
  if (!has.has('request_uri')) vars.request_uri = uri;
  if (!has.has('server_protocol') && protocol !== undefined) vars.server_protocol = protocol;
}
