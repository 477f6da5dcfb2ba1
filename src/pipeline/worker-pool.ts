import { Worker } from 'node:worker_threads';
import type { LineChunk } from '../input/line-chunk.js';
import type { MetricsDelta } from '../ops/metrics/metrics-delta.js';
import { PipelineStats } from '../ops/pipeline-stats.js';
import type { ChunkProcessor } from './chunk-processor.js';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-messages.js';

/**
 * A worker allocates short-lived objects at a high rate (records, spans, protobuf buffers):
 * a young generation larger than V8's default (16 MiB semi-spaces) scavenges less often
 * and promotes less: measured 47–50k → 65–69k lines/s (bench/replay-bench.ts, 2 workers);
 * with today's span encoder 64 MiB gives ~140k lines/s and 650–700 MiB peak RSS, 192 MiB
 * ~150k and ~780 MiB.
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 192 };

/** Chunks a worker may hold before `process` waits: one being worked on, one ready. */
const MAX_UNACCEPTED = 2;

interface PoolWorker {
  worker: Worker;
  unaccepted: number;
  stats: PipelineStats;
  flushed?: (ok: boolean) => void;
  shut?: () => void;
}

/**
 * Parse → model → deliver in worker threads, one exporter each: protobuf encoding and span
 * building are most of the CPU, and one thread cannot keep up with a busy proxy. Chunks go
 * to the least busy worker; `delivered` callbacks come back as workers' batches are
 * acknowledged (out of order across workers; the caller puts them back in order).
 */
export class WorkerPool implements ChunkProcessor {
  private readonly workers: PoolWorker[] = [];
  private readonly delivered = new Map<number, () => void>();
  private nextId = 0;
  private capacityWaiters: Array<() => void> = [];
  private closing = false;

  constructor(count: number, setup: WorkerSetup, private readonly fail: (error: Error) => void, private readonly onMetrics?: (delta: MetricsDelta) => void) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./pipeline-worker.js', import.meta.url), { workerData: setup, resourceLimits: WORKER_HEAP });
      const entry: PoolWorker = { worker, unaccepted: 0, stats: new PipelineStats() };
      worker.on('message', (message: FromWorker) => this.onMessage(entry, message));
      worker.on('error', (error) => this.fail(new Error(`pipeline worker failed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`pipeline worker exited unexpectedly (code ${code})`));
      });
      this.workers.push(entry);
    }
  }

  process(chunk: LineChunk, delivered: () => void): Promise<void> {
    let target = this.workers[0];
    for (const w of this.workers) if (w.unaccepted < target.unaccepted) target = w;
    const id = this.nextId++;
    this.delivered.set(id, delivered);
    target.unaccepted++;
    const message: ToWorker = { t: 'chunk', id, lines: chunk.lines, origin: chunk.origin, startOffset: chunk.startOffset };
    target.worker.postMessage(message);
    if (this.workers.some((w) => w.unaccepted < MAX_UNACCEPTED)) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  async flush(timeoutMs: number): Promise<boolean> {
    const results = await Promise.all(this.workers.map((w) => new Promise<boolean>((resolve) => {
      w.flushed = resolve;
      w.worker.postMessage({ t: 'flush', timeoutMs } satisfies ToWorker);
    })));
    return results.every(Boolean);
  }

  async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      w.shut = resolve;
      w.worker.postMessage({ t: 'shutdown' } satisfies ToWorker);
    })));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  stats(): PipelineStats {
    const sum = new PipelineStats();
    const totals = sum as unknown as Record<string, number>;
    for (const w of this.workers) {
      for (const [key, value] of Object.entries(w.stats)) {
        if (key === 'startedAt') continue;
        if (key === 'failingSince') totals[key] = totals[key] === 0 ? value : Math.min(totals[key], value || totals[key]);
        else if (key === 'lastExportAt') totals[key] = Math.max(totals[key], value);
        else totals[key] += value;
      }
    }
    return sum;
  }

  private onMessage(entry: PoolWorker, message: FromWorker): void {
    if ('metrics' in message && message.metrics !== undefined) this.onMetrics?.(message.metrics);
    switch (message.t) {
      case 'accepted':
        entry.unaccepted--;
        if (this.capacityWaiters.length > 0 && this.workers.some((w) => w.unaccepted < MAX_UNACCEPTED)) {
          const waiters = this.capacityWaiters;
          this.capacityWaiters = [];
          for (const wake of waiters) wake();
        }
        break;
      case 'delivered': {
        const callback = this.delivered.get(message.id);
        this.delivered.delete(message.id);
        callback?.();
        break;
      }
      case 'stats':
        Object.assign(entry.stats, message.stats);
        break;
      case 'flushed':
        Object.assign(entry.stats, message.stats);
        entry.flushed?.(message.ok);
        break;
      case 'shut':
        Object.assign(entry.stats, message.stats);
        entry.shut?.();
        break;
      case 'log':
        process.stderr.write(message.text);
        break;
    }
  }
}
