/**
 * Per-upstream statistics, gathered in one pass over the access records.
 *
 * Two views are kept:
 *  - by upstream ADDRESS (`127.0.0.1:8081`, `unix:/run/app.sock`): one entry per server
 *    nginx connected to, exactly as `$upstream_addr` names it;
 *  - by upstream GROUP. The nginx `upstream` block's name is not in the log, so a group is
 *    inferred: the addresses nginx tried within one request's attempt list (one `", "`-
 *    separated group of `$upstream_addr`) belong to the same upstream block, and groups are
 *    the connected components of that relation. When no server was reachable nginx logs
 *    the block's name instead of an address; such a name, seen in a list next to
 *    addresses, labels their group. Only servers that nginx ever retried onto one another
 *    get grouped, so an upstream that never failed over shows as separate addresses;
 *    groups of one address are not reported (they equal the address).
 *
 * Attempt-level figures (connect/header/response times, failed connects, step clusters)
 * are counted per address and summed for groups. Request-level figures (request time and
 * how many slow requests contain a stalled connect) are counted per address (each request
 * that tried it, once) and per group (each attempt list once: every list lies inside one
 * group), the latter kept at the root of a union-find that grows as records come.
 */
import type { AccessRecord, UpstreamAttempt } from '../parse/access-record.js';
import { MsHistogram } from './ms-histogram.js';
import { stepOf } from './syn-signature.js';

/** Attempt-level counters and histograms (for one address, or summed for a group). */
export class AttemptStats {
  attempts = 0;
  /** Attempts that were not the first try of their attempt list (nginx retried onto this server). */
  retries = 0;
  /** Attempts after which nginx went on to try another server (proxy_next_upstream). */
  failedOver = 0;
  /** Connect time absent and status 502: the connect failed (typically refused, or reset). */
  connectRefused = 0;
  /** Connect time absent and status 504: proxy_connect_timeout expired. */
  connectTimedOut = 0;
  /** Connect time absent, any other status (e.g. the client went away while connecting: 499). */
  connectOther = 0;
  /** The logged entry was an upstream block's name: nginx found no live server ("no live upstreams"). */
  noLiveUpstream = 0;
  readonly connect = new MsHistogram();
  readonly header = new MsHistogram();
  readonly response = new MsHistogram();
  /** Upstream status → count (key "-" when absent). */
  readonly statuses = new Map<string, number>();

  mergeFrom(other: AttemptStats): void {
    this.attempts += other.attempts;
    this.retries += other.retries;
    this.failedOver += other.failedOver;
    this.connectRefused += other.connectRefused;
    this.connectTimedOut += other.connectTimedOut;
    this.connectOther += other.connectOther;
    this.noLiveUpstream += other.noLiveUpstream;
    this.connect.merge(other.connect);
    this.header.merge(other.header);
    this.response.merge(other.response);
    for (const [k, n] of other.statuses) this.statuses.set(k, (this.statuses.get(k) ?? 0) + n);
  }
}

/** Request-level figures: every request counted once. */
export class RequestStats {
  requests = 0;
  /** Requests that needed more than one attempt (for an attempt set: within that list). */
  retried = 0;
  /** `$request_time` of the requests. */
  readonly requestTime = new MsHistogram();
  /**
   * `$request_time` of the "stalled" requests: with at least one connect just above a
   * SYN-retransmission step, or one that timed out (504 without a connect time).
   */
  readonly stalledRequestTime = new MsHistogram();

  mergeFrom(other: RequestStats): void {
    this.requests += other.requests;
    this.retried += other.retried;
    this.requestTime.merge(other.requestTime);
    this.stalledRequestTime.merge(other.stalledRequestTime);
  }
}

export interface AddressStats {
  address: string;
  attempts: AttemptStats;
  requests: RequestStats;
}

export interface GroupStats {
  /** The upstream block's name when nginx logged it (no live servers), else undefined. */
  name?: string;
  /** Member addresses, sorted. */
  members: string[];
  attempts: AttemptStats;
  requests: RequestStats;
}

/** True for `$upstream_addr` entries that are an upstream block's name rather than a server. */
export function isUpstreamName(address: string): boolean {
  return !address.includes(':');
}

/** Accumulates records; `stepTolerance` decides which connects count as stalled (see syn-signature: stepOf). */
export class UpstreamStatsCollector {
  readonly byAddress = new Map<string, AddressStats>();
  /**
   * Union-find over the addresses (and upstream names) tried within one attempt list, kept
   * as the records come, with the request-level stats of each component at its root (merged
   * when two components join): memory stays one entry per address.
   */
  private readonly parent = new Map<string, string>();
  private readonly componentRequests = new Map<string, RequestStats>();
  /** Records seen, and those that had at least one upstream attempt. */
  records = 0;
  proxiedRecords = 0;
  firstMsec = Number.POSITIVE_INFINITY;
  lastMsec = Number.NEGATIVE_INFINITY;

  constructor(private readonly stepTolerance: number) {}

  add(record: Pick<AccessRecord, 'msec' | 'requestTime' | 'upstreams'>): void {
    this.records++;
    if (record.msec < this.firstMsec) this.firstMsec = record.msec;
    if (record.msec > this.lastMsec) this.lastMsec = record.msec;
    const attempts = record.upstreams;
    const n = attempts.length;
    if (n === 0) return;
    this.proxiedRecords++;
    const requestTime = record.requestTime;

    if (n === 1) {
      // The common case, kept free of allocations.
      const a = attempts[0];
      const address = this.address(a.address);
      const stalled = this.addAttempt(address.attempts, a, true, false);
      addRequest(address.requests, requestTime, stalled, false);
      addRequest(this.componentRequests.get(this.root(a.address))!, requestTime, stalled, false);
      return;
    }

    // Several attempts: split into attempt lists (one per upstream group, " : " in the log).
    const stalledAt = new Set<string>();
    let listStart = 0;
    let listStalled = false;
    for (let i = 0; i < n; i++) {
      const a = attempts[i];
      const first = i === listStart;
      const last = i === n - 1 || attempts[i + 1].group !== a.group;
      const stalled = this.addAttempt(this.address(a.address).attempts, a, first, !last);
      if (stalled) {
        stalledAt.add(a.address);
        listStalled = true;
      }
      if (!first) this.union(attempts[listStart].address, a.address);
      if (last) {
        addRequest(this.componentRequests.get(this.root(a.address))!, requestTime, listStalled, i > listStart);
        listStart = i + 1;
        listStalled = false;
      }
    }
    // Per address: each request once, however often it tried the address.
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const address = attempts[i].address;
      if (seen.has(address)) continue;
      seen.add(address);
      addRequest(this.byAddress.get(address)!.requests, requestTime, stalledAt.has(address), true);
    }
  }

  /** Updates attempt stats; returns whether the connect stalled (at a retransmission step, or timed out). */
  private addAttempt(stats: AttemptStats, a: UpstreamAttempt, first: boolean, followed: boolean): boolean {
    stats.attempts++;
    if (!first) stats.retries++;
    if (followed) stats.failedOver++;
    const statusKey = a.status === undefined ? '-' : String(a.status);
    stats.statuses.set(statusKey, (stats.statuses.get(statusKey) ?? 0) + 1);
    if (a.headerTime !== undefined) stats.header.add(a.headerTime);
    if (a.responseTime !== undefined) stats.response.add(a.responseTime);
    const connect = a.connectTime;
    if (connect === undefined) {
      if (isUpstreamName(a.address)) stats.noLiveUpstream++;
      else if (a.status === 502) stats.connectRefused++;
      else if (a.status === 504) {
        stats.connectTimedOut++;
        return true;
      } else stats.connectOther++;
      return false;
    }
    stats.connect.add(connect);
    return stepOf(connect, this.stepTolerance) !== undefined;
  }

  private address(address: string): AddressStats {
    let stats = this.byAddress.get(address);
    if (stats === undefined) {
      stats = { address, attempts: new AttemptStats(), requests: new RequestStats() };
      this.byAddress.set(address, stats);
      this.parent.set(address, address);
      this.componentRequests.set(address, new RequestStats());
    }
    return stats;
  }

  private root(x: string): string {
    let root = x;
    for (let up = this.parent.get(root)!; up !== root; up = this.parent.get(root)!) root = up;
    for (let node = x; node !== root;) {
      const next = this.parent.get(node)!;
      this.parent.set(node, root);
      node = next;
    }
    return root;
  }

  private union(a: string, b: string): void {
    const ra = this.root(a);
    const rb = this.root(b);
    if (ra === rb) return;
    const sa = this.componentRequests.get(ra)!;
    const sb = this.componentRequests.get(rb)!;
    const [keep, drop] = sa.requests >= sb.requests ? [ra, rb] : [rb, ra];
    this.componentRequests.get(keep)!.mergeFrom(this.componentRequests.get(drop)!);
    this.componentRequests.delete(drop);
    this.parent.set(drop, keep);
  }

  /** Upstream groups of two or more addresses (see the file comment), largest first. */
  groups(): GroupStats[] {
    const components = new Map<string, string[]>();
    for (const address of this.byAddress.keys()) {
      const root = this.root(address);
      const list = components.get(root);
      if (list === undefined) components.set(root, [address]);
      else list.push(address);
    }
    const groups: GroupStats[] = [];
    for (const [root, all] of components) {
      const names = all.filter(isUpstreamName).sort();
      const members = all.filter((a) => !isUpstreamName(a)).sort();
      if (members.length < 2) continue;
      const attempts = new AttemptStats();
      for (const m of all) attempts.mergeFrom(this.byAddress.get(m)!.attempts);
      const requests = new RequestStats();
      requests.mergeFrom(this.componentRequests.get(root)!);
      groups.push({ name: names.length > 0 ? names.join(',') : undefined, members, attempts, requests });
    }
    return groups.sort((a, b) => b.attempts.attempts - a.attempts.attempts);
  }
}

function addRequest(stats: RequestStats, requestTime: number, stalled: boolean, retried: boolean): void {
  stats.requests++;
  if (retried) stats.retried++;
  stats.requestTime.add(requestTime);
  if (stalled) stats.stalledRequestTime.add(requestTime);
}
