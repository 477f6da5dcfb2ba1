/**
 * The parse stage's output: one nginx access-log line as typed values.
 * Times are seconds (doubles), as nginx logs them. Absent values are `undefined`.
 */
export interface AccessRecord {
  /** `$msec`: end of the request, seconds since the epoch (millisecond resolution). */
  msec: number;
  /** `$request_time`: seconds from the first byte read from the client to the last byte logged. */
  requestTime: number;
  /** `$request_id` (32 hex digits); when the format has none, a stable hash of the line. */
  requestId: string;
  remoteAddr?: string;
  method?: string;
  scheme?: string;
  host?: string;
  serverPort?: number;
  /** `$request_uri`: path and query as the client sent them. */
  requestUri?: string;
  protocol?: string;
  status?: number;
  bodyBytesSent?: number;
  requestLength?: number;
  userAgent?: string;
  traceparent?: string;
  tracestate?: string;
  xAmznTraceId?: string;
  /** Every upstream attempt in the order nginx made them (empty when nothing was proxied). */
  upstreams: UpstreamAttempt[];
}

/** One entry of nginx's `$upstream_*` lists: one try of one upstream server. */
export interface UpstreamAttempt {
  /** 0 for the first upstream group; +1 after each internal redirect (`" : "` in the lists). */
  group: number;
  /** `127.0.0.1:8081`, `[::1]:8081`, `unix:/run/app.sock`, or an upstream name when no server was reachable. */
  address: string;
  status?: number;
  connectTime?: number;
  headerTime?: number;
  responseTime?: number;
}

/** The nginx variables (without `$`) the sidecar understands. */
export const KNOWN_VARIABLES = [
  'msec', 'request_time', 'request_id', 'remote_addr', 'request_method', 'scheme', 'host',
  'server_port', 'request_uri', 'server_protocol', 'status', 'body_bytes_sent', 'request_length',
  'http_user_agent', 'upstream_addr', 'upstream_status', 'upstream_connect_time',
  'upstream_header_time', 'upstream_response_time', 'http_traceparent', 'http_tracestate',
  'http_x_amzn_trace_id', 'time_iso8601', 'time_local',
] as const;

/** The `$upstream_*` variables whose values are lists (", " between tries, " : " between groups). */
export const UPSTREAM_LIST_VARIABLES = [
  'upstream_addr', 'upstream_status', 'upstream_connect_time', 'upstream_header_time',
  'upstream_response_time',
] as const;

/** Raw variable values of one line, keyed by variable name without `$`. */
export type NginxVariables = Record<string, string | undefined>;

/** A line that could not be turned into a record; the message says why in one sentence. */
export class MalformedLineError extends Error {
  override name = 'MalformedLineError';
}
