import type { ExportOptions } from '../cli/options.js';
import type { MetricsDelta } from '../ops/metrics/metrics-delta.js';
import type { PipelineStats } from '../ops/pipeline-stats.js';

/** What each pipeline worker is built from. */
export interface WorkerSetup {
  options: ExportOptions;
  giveUpAfterMs?: number;
  /** Record metrics; their deltas go with the stats. */
  metrics?: boolean;
}

export type ToWorker =
  | { t: 'chunk'; id: number; lines: string[]; origin: string; startOffset?: number }
  | { t: 'flush'; timeoutMs: number }
  | { t: 'shutdown' };

export type FromWorker =
  | { t: 'accepted'; id: number }
  | { t: 'delivered'; id: number }
  | { t: 'stats'; stats: Partial<PipelineStats>; metrics?: MetricsDelta }
  | { t: 'flushed'; ok: boolean; stats: Partial<PipelineStats>; metrics?: MetricsDelta }
  | { t: 'shut'; stats: Partial<PipelineStats>; metrics?: MetricsDelta }
  | { t: 'log'; text: string };
