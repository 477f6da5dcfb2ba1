import { createHash } from 'node:crypto';
import { MalformedLineError, type AccessRecord, type NginxVariables } from './access-record.js';
import { parseUpstreams, toInt, toSeconds } from './upstream-list.js';

const REQUEST_ID = /^[0-9a-f]{32}$/;

/** Turns the variables of one line into an AccessRecord; `line` seeds ids when `$request_id` is absent. */
export function toAccessRecord(vars: NginxVariables, line: string): AccessRecord {
  const msec = toSeconds(vars.msec);
  if (msec === undefined) throw new MalformedLineError(`$msec is missing or not a number (${JSON.stringify(vars.msec ?? null)})`);
  const rid = vars.request_id;
  return {
    msec,
    requestTime: toSeconds(vars.request_time) ?? 0,
    requestId: rid !== undefined && REQUEST_ID.test(rid) ? rid : lineId(line),
    remoteAddr: present(vars.remote_addr),
    method: present(vars.request_method),
    scheme: present(vars.scheme),
    host: present(vars.host),
    serverPort: toInt(vars.server_port),
    requestUri: present(vars.request_uri),
    protocol: present(vars.server_protocol),
    status: toInt(vars.status),
    bodyBytesSent: toInt(vars.body_bytes_sent),
    requestLength: toInt(vars.request_length),
    userAgent: present(vars.http_user_agent),
    traceparent: present(vars.http_traceparent),
    tracestate: present(vars.http_tracestate),
    xAmznTraceId: present(vars.http_x_amzn_trace_id),
    upstreams: parseUpstreams(vars),
  };
}

function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value === '-' ? undefined : value;
}

/** A stable 32-hex-digit id for a line without `$request_id`: replaying it gives the same spans. */
function lineId(line: string): string {
  return createHash('sha256').update(line).digest('hex').slice(0, 32);
}
