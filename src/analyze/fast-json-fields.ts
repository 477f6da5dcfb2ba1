/**
 * A fast path for the analysis of JSON logs in the recommended format: it needs only seven
 * variables ($msec, $request_time and the five $upstream_* lists), so instead of parsing
 * the whole object it finds those keys with `indexOf` (in the order nginx/otel-log-format.conf
 * writes them first, then anywhere) and cuts out their values. About 4× faster than
 * JSON.parse plus building the full record, which is what makes a million lines a matter
 * of seconds.
 *
 * It is safe because a key pattern `"name":"` cannot occur inside a JSON string value (a
 * quote there is always escaped: `\"` with escape=json, `\x22` with escape=default), and it
 * declines — returning undefined so the caller uses the full parser — whenever a line is not
 * plainly such an object: not `{…}`, a key missing, a value with a backslash, `$msec` not a
 * number. The upstream lists are split by the same code the full parser uses.
 * The one difference: a line that carries all seven fields intact but is broken elsewhere
 * (invalid JSON in another field) is analysed rather than counted as malformed.
 */
import type { AccessRecord, NginxVariables } from '../parse/access-record.js';
import { parseUpstreams, toInt, toSeconds } from '../parse/upstream-list.js';

const NAMES = ['msec', 'request_time', 'upstream_addr', 'upstream_status', 'upstream_connect_time', 'upstream_header_time', 'upstream_response_time'] as const;
const KEYS = NAMES.map((n) => `"${n}":"`);

export type AnalyzedRecord = Pick<AccessRecord, 'msec' | 'requestTime' | 'upstreams'>;

/** The fields of `line` the analysis needs, or undefined when the full parser must decide. */
export function fastJsonFields(line: string): AnalyzedRecord | undefined {
  if (line.charCodeAt(0) !== 123 /* { */ || line.charCodeAt(line.length - 1) !== 125 /* } */) return undefined;
  const values: string[] = [];
  let pos = 0;
  for (let k = 0; k < KEYS.length; k++) {
    const key = KEYS[k];
    let at = line.indexOf(key, pos);
    if (at === -1) {
      at = line.indexOf(key);
      if (at === -1) return undefined;
    }
    const start = at + key.length;
    const end = line.indexOf('"', start);
    if (end === -1) return undefined;
    const value = line.slice(start, end);
    if (value.indexOf('\\') !== -1) return undefined;
    values.push(value);
    pos = end;
  }
  const msec = toSeconds(values[0]);
  if (msec === undefined) return undefined;
  const requestTime = toSeconds(values[1]) ?? 0;
  if (isSingle(values)) {
    // One attempt (most lines): what parseUpstreams gives, without splitting five lists.
    const address = values[2];
    if (address === '' || address === '-') return { msec, requestTime, upstreams: [] };
    return {
      msec,
      requestTime,
      upstreams: [{ group: 0, address, status: toInt(values[3]), connectTime: toSeconds(values[4]), headerTime: toSeconds(values[5]), responseTime: toSeconds(values[6]) }],
    };
  }
  const vars: NginxVariables = {
    upstream_addr: values[2],
    upstream_status: values[3],
    upstream_connect_time: values[4],
    upstream_header_time: values[5],
    upstream_response_time: values[6],
  };
  return { msec, requestTime, upstreams: parseUpstreams(vars) };
}

/** No list separators (", " between tries, " : " between groups) in any upstream value. */
function isSingle(values: string[]): boolean {
  for (let i = 2; i < 7; i++) {
    const v = values[i];
    if (v.indexOf(',') !== -1 || v.indexOf(' : ') !== -1) return false;
  }
  return true;
}
