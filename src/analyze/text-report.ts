/**
 * The human-readable analyze report: verdicts first (what a reader came for), then the
 * per-upstream tables (requests and failures; time quantiles), inferred groups, and
 * connect-time histograms with the retransmission steps marked.
 */
import { CLASSIC_STEPS, LINEAR_STEPS } from '../model/syn-retransmit.js';
import { groupLabel, type AnalysisResult } from './analyze.js';
import { formatCount, formatPercent, formatSeconds, formatStep } from './format.js';
import { MsHistogram } from './ms-histogram.js';
import type { SynSignature } from './syn-signature.js';
import { renderHistogram, type HistogramMark } from './terminal-histogram.js';

const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;
/** With at most this many addresses every one gets a histogram; beyond, only suspected ones plus all combined. */
const HISTOGRAMS_FOR_ALL_UP_TO = 4;

export function renderTextReport(result: AnalysisResult): string {
  const out: string[] = [];
  out.push(...header(result));
  out.push('');

  const servers = result.upstreams.filter((u) => u.kind === 'server');
  const suspected = result.upstreams.filter((u) => u.signature.suspected);
  const suspectedGroups = result.groups.filter((g) => g.signature.suspected && !g.members.some((m) => suspected.some((u) => u.address === m)));

  out.push('SYN-retransmit signature');
  if (result.upstreams.length === 0) {
    out.push(`  No upstream attempts in the input${result.records === 0 ? ' (no parsable lines)' : ''}: nothing to analyze.`);
    if (result.records === 0 && result.malformed > 0) {
      out.push('  No line could be read: if the log is not in the otel_json format, say how it is written with --log-format, or with --nginx-conf and --log-format-name.');
    }
  } else {
    for (const u of result.upstreams) out.push(`  ${u.signature.suspected ? '✗' : '✓'} ${u.verdict}`);
    for (const g of suspectedGroups) out.push(`  ✗ ${g.verdict}`);
    const schedules = [...new Set([...suspected, ...suspectedGroups].map((u) => u.signature.schedule).filter((s) => s === 'linear' || s === 'classic' || s === 'mixed'))];
    if (schedules.length > 0) out.push(`  Retransmission schedule seen: ${schedules.map(scheduleText).join('; ')}.`);
    out.push('');
    const connects = result.upstreams.reduce((sum, u) => sum + u.signature.connects, 0);
    const flagged = suspected.length + suspectedGroups.length;
    out.push(flagged > 0
      ? `  ${flagged} of ${formatCount(servers.length)} upstream${servers.length === 1 ? '' : 's'} ${flagged === 1 ? 'shows' : 'show'} the SYN-retransmit signature.`
      : `  No SYN-retransmit signature found in ${formatCount(connects)} connects to ${formatCount(servers.length)} upstreams.`);
  }

  if (result.upstreams.length > 0) {
    out.push('');
    out.push('Upstreams by address');
    out.push(...table(
      ['address', 'requests', 'attempts', 'retries', 'failed over', 'refused', 'timed out', 'at steps', 'suspected'],
      result.upstreams.map((u) => [
        u.kind === 'server' ? u.address : `${u.address} (no live upstreams)`,
        formatCount(u.requests.requests),
        formatCount(u.attempts.attempts),
        formatCount(u.attempts.retries),
        formatCount(u.attempts.failedOver),
        formatCount(u.attempts.connectRefused),
        formatCount(u.attempts.connectTimedOut),
        stepsText(u.signature),
        u.signature.suspected ? `${formatCount(u.signature.suspectedConnects)} (${formatPercent(u.signature.suspectedConnects / u.signature.connects)})` : '0',
      ]),
      'lrrrrrrlr',
    ));
    out.push('');
    out.push('Times by address (p50 / p90 / p99 / p99.9 / max)');
    const rows: string[][] = [];
    for (const u of servers) {
      rows.push([u.address, 'connect', ...quantileCells(u.attempts.connect)]);
      rows.push(['', 'header', ...quantileCells(u.attempts.header)]);
      rows.push(['', 'response', ...quantileCells(u.attempts.response)]);
      const reqCells = quantileCells(u.requests.requestTime);
      rows.push(['', 'request', ...reqCells]);
      if (u.signature.suspected) {
        rows.push(['', 'request w/o stalls', ...quantileCells(u.requests.requestTime.minus(u.requests.stalledRequestTime))]);
      }
    }
    out.push(...table(['address', 'time', 'p50', 'p90', 'p99', 'p99.9', 'max', 'n'], rows, 'llrrrrrr'));
  }

  if (result.groups.length > 0) {
    out.push('');
    out.push('Upstream groups (addresses nginx tried within one request)');
    out.push(...table(
      ['group', 'requests', 'attempts', 'retries', 'refused', 'timed out', 'connect p50', 'p99', 'suspected'],
      result.groups.map((g) => [
        groupLabel(g),
        formatCount(g.requests.requests),
        formatCount(g.attempts.attempts),
        formatCount(g.attempts.retries),
        formatCount(g.attempts.connectRefused),
        formatCount(g.attempts.connectTimedOut),
        formatSeconds(g.attempts.connect.quantile(0.5)),
        formatSeconds(g.attempts.connect.quantile(0.99)),
        g.signature.suspected ? formatCount(g.signature.suspectedConnects) : '0',
      ]),
      'lrrrrrrrr',
    ));
  }

  const histogramsFor: Array<{ title: string; hist: MsHistogram; sig?: SynSignature }> = [];
  if (servers.length <= HISTOGRAMS_FOR_ALL_UP_TO) {
    for (const u of servers) histogramsFor.push({ title: u.address, hist: u.attempts.connect, sig: u.signature });
  } else {
    for (const u of suspected) histogramsFor.push({ title: u.address, hist: u.attempts.connect, sig: u.signature });
    const all = new MsHistogram();
    for (const u of servers) all.merge(u.attempts.connect);
    histogramsFor.push({ title: `all ${formatCount(servers.length)} upstream addresses`, hist: all });
  }
  for (const h of histogramsFor) {
    if (h.hist.count === 0) continue;
    out.push('');
    out.push(`Connect time, ${h.title} (${formatCount(h.hist.count)} connects; log-scale buckets, bar ∝ log count)`);
    out.push(...renderHistogram(h.hist, { marks: h.sig === undefined ? [] : marks(h.sig) }));
  }

  if (result.malformedExamples.length > 0) {
    out.push('');
    out.push(`Malformed lines: ${formatCount(result.malformed)}, for example:`);
    for (const e of result.malformedExamples) out.push(`  ${e.origin}:${e.lineNumber}: ${e.message}`);
  }
  return out.join('\n') + '\n';
}

function header(r: AnalysisResult): string[] {
  const inputs = r.inputs.length === 0 ? '' : r.inputs.length === 1 ? `${r.inputs[0] === '-' ? 'standard input' : r.inputs[0]}: ` : `${r.inputs.length} inputs: `;
  const span = r.firstMsec !== undefined && r.lastMsec !== undefined
    ? `, ${new Date(r.firstMsec * 1000).toISOString().replace('T', ' ').slice(0, 19)} → ${new Date(r.lastMsec * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC`
    : '';
  return [
    `nginx-otel-sidecar analyze — ${inputs}${formatCount(r.lines)} lines (${formatCount(r.malformed)} malformed), ${formatCount(r.proxiedRecords)} proxied requests${span}`,
    `Connects counted at SYN-retransmission steps up to ${r.stepTolerance} s above them: classic ${CLASSIC_STEPS.slice(0, 4).join(', ')} s…, linear (Linux ≥ 6.5) ${LINEAR_STEPS.slice(0, 4).join(', ')} s…`,
  ];
}

function scheduleText(s: string): string {
  if (s === 'linear') return 'linear (1 s apart: Linux ≥ 6.5 with net.ipv4.tcp_syn_linear_timeouts)';
  if (s === 'classic') return 'classic exponential backoff (1, 3, 7, 15 s)';
  return 'both linear and classic (hosts with different kernels or settings)';
}

function stepsText(sig: SynSignature): string {
  if (sig.steps.length === 0) return '-';
  return sig.steps.map((s) => `${formatStep(s.step)} ×${formatCount(s.count)}`).join(', ');
}

function marks(sig: SynSignature): HistogramMark[] {
  return sig.steps.map((s) => ({
    at: s.step + 0.001,
    note: `${formatStep(s.step)} step: ${formatCount(s.count)}${sig.suspected && s.standsOut ? ' stalled' : ''}`,
  }));
}

function quantileCells(hist: MsHistogram): string[] {
  if (hist.count === 0) return ['-', '-', '-', '-', '-', '0'];
  return [...hist.quantiles(QUANTILES).map(formatSeconds), formatSeconds(hist.max), formatCount(hist.count)];
}

/** Pads a table; `align` has one `l` or `r` per column. */
function table(head: string[], rows: string[][], align: string): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    '  ' + cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}
