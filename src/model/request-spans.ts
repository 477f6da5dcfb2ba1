import { SpanKind, SpanStatusCode, type Attributes, type SpanContext, type SpanStatus } from '@opentelemetry/api';
import { TraceState, type InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { AccessRecord, UpstreamAttempt } from '../parse/access-record.js';
import { LogSpan, UNSET, spanContext } from './log-span.js';
import { attemptSpanId, connectSpanId, serverSpanId } from './span-ids.js';
import { synRetransmitStep, DEFAULT_STEP_TOLERANCE } from './syn-retransmit.js';
import { callerContext, type CallerContext } from './trace-context.js';

export interface SpanModelOptions {
  resource: Resource;
  scope: InstrumentationScope;
  /** Record `url.query` (off by default: query strings often carry secrets). */
  recordQuery?: boolean;
  /** Seconds above a SYN retransmission step that still count as waiting for it. */
  stepTolerance?: number;
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/**
 * The span model (names are the contract, see README "Span model"):
 *   SERVER  "{method}"   the request as nginx saw it, child of the caller's span
 *   CLIENT  "{method}"   one per upstream attempt, in order, laid end to end from the request's start
 *   INTERNAL "connect"   the attempt's TCP connect phase ($upstream_connect_time)
 */
export class RequestSpanModel {
  private readonly resource: Resource;
  private readonly scope: InstrumentationScope;
  private readonly recordQuery: boolean;
  private readonly stepTolerance: number;

  constructor(options: SpanModelOptions) {
    this.resource = options.resource;
    this.scope = options.scope;
    this.recordQuery = options.recordQuery ?? false;
    this.stepTolerance = options.stepTolerance ?? DEFAULT_STEP_TOLERANCE;
  }

  /** Appends the record's spans to `out` (parent before children). */
  spans(record: AccessRecord, out: LogSpan[], caller: CallerContext = callerContext(record)): void {
    const traceState = caller.traceState !== undefined ? new TraceState(caller.traceState) : undefined;
    const endMicros = Math.round(record.msec * 1e6);
    // The attempts, laid end to end from the start, must fit inside the request: they may not
    // when $request_time is missing from the format, or rounded below their sum.
    let attemptsMicros = 0;
    for (const a of record.upstreams) attemptsMicros += attemptDurationMicros(a);
    const startMicros = endMicros - Math.max(Math.round(record.requestTime * 1e6), attemptsMicros);
    const method = normaliseMethod(record.method);

    const server = spanContext(caller.traceId, serverSpanId(record.requestId), caller.traceFlags, traceState);
    const callerSpan: SpanContext | undefined = caller.parentSpanId === undefined
      ? undefined
      : { traceId: caller.traceId, spanId: caller.parentSpanId, traceFlags: caller.traceFlags, isRemote: true, traceState };
    const status = record.status ?? 0;
    out.push(new LogSpan(method, SpanKind.SERVER, server, callerSpan, startMicros, endMicros,
      this.serverAttributes(record, method), status >= 500 ? errorStatus(`HTTP ${status}`) : UNSET,
      this.resource, this.scope));

    let cursor = startMicros;
    let triesInGroup = 0;
    for (let i = 0; i < record.upstreams.length; i++) {
      const attempt = record.upstreams[i];
      triesInGroup = i > 0 && attempt.group === record.upstreams[i - 1].group ? triesInGroup + 1 : 0;
      const duration = attemptDurationMicros(attempt);
      const client = spanContext(caller.traceId, attemptSpanId(record.requestId, i), caller.traceFlags, traceState);
      // Why it never connected, or undefined when it did.
      const failure = attempt.connectTime === undefined ? connectFailure(attempt) : undefined;
      const clientStatus = failure !== undefined ? errorStatus(failure.message)
        : (attempt.status ?? 0) >= 500 ? errorStatus(`HTTP ${attempt.status}`) : UNSET;
      out.push(new LogSpan(method, SpanKind.CLIENT, client, server, cursor, cursor + duration,
        this.attemptAttributes(attempt, triesInGroup, failure), clientStatus,
        this.resource, this.scope));

      const connect = spanContext(caller.traceId, connectSpanId(record.requestId, i), caller.traceFlags, traceState);
      const connectMicros = failure === undefined ? Math.round(attempt.connectTime! * 1e6) : duration;
      out.push(new LogSpan('connect', SpanKind.INTERNAL, connect, client, cursor, cursor + connectMicros,
        this.connectAttributes(attempt, failure), failure === undefined ? UNSET : errorStatus(failure.message),
        this.resource, this.scope));
      cursor += duration;
    }
  }

  private serverAttributes(record: AccessRecord, method: string): Attributes {
    const attributes: Attributes = { 'http.request.method': method };
    if (method === '_OTHER' && record.method !== undefined) attributes['http.request.method_original'] = record.method;
    if (record.requestUri !== undefined) {
      const q = record.requestUri.indexOf('?');
      attributes['url.path'] = q === -1 ? record.requestUri : record.requestUri.slice(0, q);
      if (this.recordQuery && q !== -1) attributes['url.query'] = record.requestUri.slice(q + 1);
    }
    if (record.scheme !== undefined) attributes['url.scheme'] = record.scheme;
    if (record.host !== undefined) attributes['server.address'] = record.host;
    if (record.serverPort !== undefined) attributes['server.port'] = record.serverPort;
    if (record.remoteAddr !== undefined) attributes['client.address'] = record.remoteAddr;
    if (record.protocol !== undefined) attributes['network.protocol.version'] = protocolVersion(record.protocol);
    if (record.status !== undefined) {
      attributes['http.response.status_code'] = record.status;
      if (record.status >= 500) attributes['error.type'] = String(record.status);
    }
    if (record.bodyBytesSent !== undefined) attributes['http.response.body.size'] = record.bodyBytesSent;
    if (record.userAgent !== undefined) attributes['user_agent.original'] = record.userAgent;
    attributes['nginx.request_id'] = record.requestId;
    attributes['nginx.request_time'] = record.requestTime;
    return attributes;
  }

  private attemptAttributes(attempt: UpstreamAttempt, resendCount: number, failure: ConnectFailure | undefined): Attributes {
    const attributes = peerAttributes(attempt.address);
    if (attempt.status !== undefined) attributes['http.response.status_code'] = attempt.status;
    if (resendCount > 0) attributes['http.request.resend_count'] = resendCount;
    if (failure !== undefined) attributes['error.type'] = failure.type;
    else if (attempt.status !== undefined && attempt.status >= 500) attributes['error.type'] = String(attempt.status);
    if (attempt.connectTime !== undefined) attributes['nginx.upstream.connect_time'] = attempt.connectTime;
    if (attempt.headerTime !== undefined) attributes['nginx.upstream.header_time'] = attempt.headerTime;
    if (attempt.responseTime !== undefined) attributes['nginx.upstream.response_time'] = attempt.responseTime;
    if (attempt.group > 0) attributes['nginx.upstream.group'] = attempt.group;
    return attributes;
  }

  private connectAttributes(attempt: UpstreamAttempt, failure: ConnectFailure | undefined): Attributes {
    const attributes = peerAttributes(attempt.address);
    if (failure !== undefined) {
      attributes['error.type'] = failure.type;
      return attributes;
    }
    const connectTime = attempt.connectTime!; // no failure: it connected
    attributes['nginx.upstream.connect_time'] = connectTime;
    const step = synRetransmitStep(connectTime, this.stepTolerance);
    if (step !== undefined) {
      attributes['nginx.upstream.connect.syn_retransmit_suspected'] = true;
      attributes['nginx.upstream.connect.syn_retransmit_step'] = step;
    }
    return attributes;
  }
}

function errorStatus(message: string): SpanStatus {
  return { code: SpanStatusCode.ERROR, message };
}

/** nginx logs 504 for a try that timed out and 502 for one refused or reset. */
function attemptDurationMicros(attempt: UpstreamAttempt): number {
  return Math.round((attempt.responseTime ?? attempt.headerTime ?? attempt.connectTime ?? 0) * 1e6);
}

/**
 * Why an attempt never connected, from what nginx logged for it: 504, the connect timed out
 * (proxy_connect_timeout); no status, the client closed the connection first (a 499 while
 * nginx was still connecting, as when SYNs are dropped); an upstream block's name instead of
 * an address, no server of it was live; otherwise (502) refused, reset or unreachable.
 */
interface ConnectFailure {
  /** error.type */
  type: string;
  /** the span status message */
  message: string;
}

function connectFailure(attempt: UpstreamAttempt): ConnectFailure {
  if (attempt.status === 504) return CONNECT_TIMED_OUT;
  if (attempt.status === undefined) return CONNECT_ABANDONED;
  if (!attempt.address.startsWith('unix:') && !attempt.address.includes(':')) return NO_LIVE_UPSTREAMS;
  return CONNECT_FAILED;
}

const CONNECT_TIMED_OUT = { type: 'timeout', message: 'connect timed out' };
const CONNECT_ABANDONED = { type: 'cancelled', message: 'connect abandoned (the client closed the connection first)' };
const NO_LIVE_UPSTREAMS = { type: 'no_live_upstreams', message: 'no live upstreams' };
const CONNECT_FAILED = { type: 'connection_failed', message: 'connect failed (refused, reset or unreachable)' };

function normaliseMethod(method: string | undefined): string {
  if (method === undefined) return '_OTHER';
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** "HTTP/1.1" → "1.1", "HTTP/2.0" → "2", "HTTP/3.0" → "3". */
function protocolVersion(protocol: string): string {
  const version = protocol.startsWith('HTTP/') ? protocol.slice(5) : protocol;
  return version.endsWith('.0') && version !== '1.0' ? version.slice(0, -2) : version;
}

/** `server.address`/`server.port` of an upstream: `host:port`, `[v6]:port`, `unix:/path` or an upstream name. */
export function peerAttributes(address: string): Attributes {
  if (address.startsWith('unix:')) return { 'server.address': address.slice(5), 'network.transport': 'unix' };
  const colon = address.lastIndexOf(':');
  const port = colon === -1 ? NaN : Number(address.slice(colon + 1));
  if (colon === -1 || !Number.isInteger(port)) return { 'server.address': address };
  const host = address.slice(0, colon);
  return {
    'server.address': host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    'server.port': port,
  };
}
