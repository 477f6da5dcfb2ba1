/**
 * The analyze pipeline: read every input once, parse each line, gather per-upstream
 * statistics, then judge each upstream (and each inferred upstream group) for the
 * SYN-retransmit signature. Malformed lines are counted (with a few examples), never fatal.
 */
import type { Readable } from 'node:stream';
import { MalformedLineError } from '../parse/access-record.js';
import { JsonLineParser } from '../parse/json-line-parser.js';
import type { LineParser } from '../parse/line-parser.js';
import { createLineParser } from '../parse/create-parser.js';
import { DEFAULT_STEP_TOLERANCE } from '../model/syn-retransmit.js';
import { fastJsonFields } from './fast-json-fields.js';
import { checkInputs, forEachLine, InputError } from './read-input.js';
import { Progress, type ProgressStream } from './progress.js';
import { detectSynSignature, type SynSignature } from './syn-signature.js';
import { isUpstreamName, UpstreamStatsCollector, type AttemptStats, type RequestStats } from './upstream-stats.js';
import { verdict } from './verdict.js';

export interface AnalyzeOptions {
  /** How to read the log (passed to createLineParser); the default is the otel_json format. */
  logFormat?: string;
  escape?: 'default' | 'json' | 'none';
  nginxConf?: string;
  logFormatName?: string;
  /** Seconds a connect may land above a retransmission step and still count (default 0.2). */
  stepTolerance?: number;
  /** Read for `-` (default process.stdin). */
  stdin?: Readable;
  /** Where progress goes (default: nowhere). */
  progress?: { stream: ProgressStream; enabled: boolean };
  /** Use this parser instead of building one from the format options. */
  parser?: LineParser;
}

export interface MalformedExample {
  origin: string;
  /** 1-based line number within its input. */
  lineNumber: number;
  message: string;
}

export interface UpstreamAnalysis {
  address: string;
  /** `server` for an address; `upstream-name` when nginx logged an upstream block's name (no live server). */
  kind: 'server' | 'upstream-name';
  attempts: AttemptStats;
  requests: RequestStats;
  signature: SynSignature;
  verdict: string;
}

export interface GroupAnalysis {
  /** The upstream block's name when nginx ever logged it. */
  name?: string;
  members: string[];
  attempts: AttemptStats;
  requests: RequestStats;
  signature: SynSignature;
  verdict: string;
}

export interface AnalysisResult {
  inputs: string[];
  /** Non-empty lines read. */
  lines: number;
  malformed: number;
  malformedExamples: MalformedExample[];
  /** Lines parsed into records, and those with at least one upstream attempt. */
  records: number;
  proxiedRecords: number;
  /** `$msec` range of the records, seconds since the epoch. */
  firstMsec?: number;
  lastMsec?: number;
  stepTolerance: number;
  /** Suspected upstreams first, then by attempts. */
  upstreams: UpstreamAnalysis[];
  /** Inferred groups of two or more addresses. */
  groups: GroupAnalysis[];
  /** Wall-clock seconds the analysis took. */
  elapsedSeconds: number;
}

const MAX_MALFORMED_EXAMPLES = 5;

/** Builds the line parser for the format options (the same parser run and replay use). */
export function createAnalyzeParser(options: AnalyzeOptions): LineParser {
  if (options.parser !== undefined) return options.parser;
  if (!hasFormatOptions(options)) return new JsonLineParser();
  try {
    return createLineParser({ logFormat: options.logFormat, escape: options.escape, nginxConf: options.nginxConf, logFormatName: options.logFormatName });
  } catch (err) {
    // Bad or contradictory format options, an unreadable --nginx-conf: one sentence for the user.
    throw new InputError((err as Error).message.replace(/\.?$/, '.'));
  }
}

function hasFormatOptions(options: AnalyzeOptions): boolean {
  return options.logFormat !== undefined || options.nginxConf !== undefined || options.logFormatName !== undefined || options.escape !== undefined;
}

/** Analyzes log files (`-` = stdin). Throws InputError for inputs that cannot be read. */
export async function analyzeFiles(paths: readonly string[], options: AnalyzeOptions = {}): Promise<AnalysisResult> {
  const started = performance.now();
  const tolerance = options.stepTolerance ?? DEFAULT_STEP_TOLERANCE;
  const inputs = await checkInputs(paths);
  const parser = createAnalyzeParser(options);
  // The default JSON format goes through the field scan first (see fast-json-fields).
  const fast = options.parser === undefined && !hasFormatOptions(options);
  const collector = new UpstreamStatsCollector(tolerance);
  const progress = new Progress(options.progress?.stream ?? { write: () => true }, options.progress?.enabled ?? false);
  const stdin = options.stdin ?? process.stdin;

  let lines = 0;
  let malformed = 0;
  const examples: MalformedExample[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i];
    const origin = input.path === '-' ? 'standard input' : input.path;
    let lineNumber = 0;
    const onLine = (line: string): void => {
      lineNumber++;
      if (fast) {
        const fields = fastJsonFields(line);
        if (fields !== undefined) {
          collector.add(fields);
          return;
        }
      }
      let record;
      try {
        record = parser.parse(line);
      } catch (err) {
        malformed++;
        if (examples.length < MAX_MALFORMED_EXAMPLES) {
          examples.push({ origin, lineNumber, message: err instanceof MalformedLineError ? err.message : String(err) });
        }
        return;
      }
      collector.add(record);
    };
    await forEachLine(input.path, onLine, {
      stdin,
      onBytes: (bytes) => progress.tick({ input: i, inputs: inputs.length, name: origin, lines: lines + lineNumber, bytes, size: input.size }),
    });
    lines += lineNumber;
  }
  progress.done();
  return summarize(collector, {
    inputs: inputs.map((x) => x.path),
    lines,
    malformed,
    malformedExamples: examples,
    stepTolerance: tolerance,
    started,
  });
}

/** Analyzes lines already in memory (tests, small inputs). */
export function analyzeLines(lines: Iterable<string>, options: Pick<AnalyzeOptions, 'stepTolerance'> & { parser?: LineParser } = {}): AnalysisResult {
  const started = performance.now();
  const tolerance = options.stepTolerance ?? DEFAULT_STEP_TOLERANCE;
  const parser = options.parser ?? new JsonLineParser();
  const collector = new UpstreamStatsCollector(tolerance);
  let count = 0;
  let malformed = 0;
  const examples: MalformedExample[] = [];
  for (const line of lines) {
    if (line.length === 0) continue;
    count++;
    try {
      collector.add(parser.parse(line));
    } catch (err) {
      malformed++;
      if (examples.length < MAX_MALFORMED_EXAMPLES) examples.push({ origin: 'lines', lineNumber: count, message: (err as Error).message });
    }
  }
  return summarize(collector, { inputs: [], lines: count, malformed, malformedExamples: examples, stepTolerance: tolerance, started });
}

function summarize(
  collector: UpstreamStatsCollector,
  base: { inputs: string[]; lines: number; malformed: number; malformedExamples: MalformedExample[]; stepTolerance: number; started: number },
): AnalysisResult {
  const tolerance = base.stepTolerance;
  const upstreams: UpstreamAnalysis[] = [];
  for (const { address, attempts, requests } of collector.byAddress.values()) {
    const signature = detectSynSignature(attempts, requests, tolerance);
    upstreams.push({
      address,
      kind: isUpstreamName(address) ? 'upstream-name' : 'server',
      attempts,
      requests,
      signature,
      verdict: verdict(address, signature, attempts),
    });
  }
  upstreams.sort((a, b) => Number(b.signature.suspected) - Number(a.signature.suspected) || b.attempts.attempts - a.attempts.attempts || a.address.localeCompare(b.address));

  const groups: GroupAnalysis[] = collector.groups().map((g) => {
    const signature = detectSynSignature(g.attempts, g.requests, tolerance);
    return { ...g, signature, verdict: verdict(groupLabel(g), signature, g.attempts) };
  });

  const hasRecords = collector.records > 0;
  return {
    inputs: base.inputs,
    lines: base.lines,
    malformed: base.malformed,
    malformedExamples: base.malformedExamples,
    records: collector.records,
    proxiedRecords: collector.proxiedRecords,
    firstMsec: hasRecords ? collector.firstMsec : undefined,
    lastMsec: hasRecords ? collector.lastMsec : undefined,
    stepTolerance: tolerance,
    upstreams,
    groups,
    elapsedSeconds: (performance.now() - base.started) / 1000,
  };
}

/** `group app (10.0.0.1:80, 10.0.0.2:80)` or `group (10.0.0.1:80, 10.0.0.2:80)`. */
export function groupLabel(g: { name?: string; members: string[] }): string {
  return `group ${g.name !== undefined ? `${g.name} ` : ''}(${g.members.join(', ')})`;
}
