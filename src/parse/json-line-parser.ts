import { MalformedLineError, type AccessRecord, type NginxVariables } from './access-record.js';
import type { LineParser } from './line-parser.js';
import { unescapeNginxDefault } from './nginx-escape.js';
import { toAccessRecord } from './to-record.js';

/**
 * A run of `\xHH` (escape=default), or an escaped backslash `\\` (escape=json), matched first
 * so that the `\x41` in a JSON value holding the text `\x41` (written `\\x41`) is left alone.
 */
const ESCAPED_RUN = /\\\\|(?:\\x[0-9A-Fa-f]{2})+/g;

/**
 * Parses JSON log lines. Keys are mapped to nginx variables by `keyToVariable`
 * (read from the log_format); keys not in the map are taken to be variable names,
 * which is what the recommended format uses. Lines written with `escape=default`
 * (where `"` and non-ASCII bytes appear as `\xHH`, which JSON does not allow) are
 * recognised and decoded.
 */
export class JsonLineParser implements LineParser {
  private readonly keyToVariable: ReadonlyMap<string, string>;

  constructor(keyToVariable: ReadonlyMap<string, string> = new Map()) {
    this.keyToVariable = keyToVariable;
  }

  parse(line: string): AccessRecord {
    const object = parseJsonObject(line);
    const map = this.keyToVariable;
    if (map.size === 0) {
      // Keys are variable names: use the parsed object as it is (no copy on the hot path).
      for (const key in object) {
        const value = object[key];
        if (typeof value !== 'string') object[key] = value === null || value === undefined ? undefined : String(value);
      }
      return toAccessRecord(object as NginxVariables, line);
    }
    const vars: NginxVariables = {};
    for (const key in object) {
      const value = object[key];
      const name = map.get(key) ?? key;
      vars[name] = value === null || value === undefined ? undefined : typeof value === 'string' ? value : String(value);
    }
    return toAccessRecord(vars, line);
  }
}

function parseJsonObject(line: string): Record<string, unknown> {
  let text = line;
  if (text.indexOf('\\x') !== -1) {
    // escape=default: re-escape each decoded run as JSON.
    text = text.replace(ESCAPED_RUN, (run) => (run === '\\\\' ? run : JSON.stringify(unescapeNginxDefault(run)).slice(1, -1)));
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8 quotes the whole line in some messages; the reporter shows the line already.
    throw new MalformedLineError(`not valid JSON (${(err as Error).message.replace(/^(.*?), ".*" is not valid JSON$/s, '$1')})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MalformedLineError('not a JSON object');
  }
  return value as Record<string, unknown>;
}
