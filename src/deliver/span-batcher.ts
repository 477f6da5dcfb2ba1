import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { PipelineStats } from '../ops/pipeline-stats.js';
import type { DeliveryTicket } from './delivery-ticket.js';
import { isRejectedAsInvalid, isTooLarge } from './export-errors.js';
import { takeRejection } from './otlp-span-exporter.js';

export interface SpanBatcherOptions {
  /** Spans per export request. */
  maxBatchSpans: number;
  /** Export requests in flight at once. */
  maxInFlight: number;
  /** Spans held at most (batched, in flight, awaiting retry); `add` waits beyond it. */
  maxQueuedSpans: number;
  /** A partial batch is sent after this long. */
  flushIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Give a batch up (counted as failed) once it has failed for this long; undefined: never. */
  giveUpAfterMs?: number;
  log: (message: string) => void;
}

export const DEFAULT_BATCHER_OPTIONS: Omit<SpanBatcherOptions, 'log'> = {
  maxBatchSpans: 2048,
  maxInFlight: 4,
  maxQueuedSpans: 16_384,
  flushIntervalMs: 200,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
};

interface Batch {
  spans: ReadableSpan[];
  tickets: DeliveryTicket[];
  failures: number;
  firstFailureAt: number;
}

/**
 * Batches spans for the exporter, with several exports in flight. Unlike the SDK's
 * BatchSpanProcessor it never drops silently: a failed batch is retried with backoff for
 * as long as the collector is away (the caller's `add` waits meanwhile, so reading pauses
 * and memory stays bounded), and only spans the collector rejects as invalid (a batch
 * answered 400, a lone span answered 413 — larger batches are split — or spans a partial
 * success names) are dropped, logged and counted. Each batch acknowledges the tickets of the
 * chunks it carried.
 */
export class SpanBatcher {
  private current: ReadableSpan[] = [];
  private currentTickets: DeliveryTicket[] = [];
  private readonly ready: Batch[] = [];
  private inFlight = 0;
  private retryTimers = new Set<NodeJS.Timeout>();
  private flushTimer: NodeJS.Timeout | undefined;
  private capacityWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  /** After shutdown: no more sends or retries (answers to requests in flight are still counted). */
  private closed = false;

  constructor(
    private readonly exporter: SpanExporter,
    private readonly stats: PipelineStats,
    private readonly options: SpanBatcherOptions,
  ) {}

  /** Queues the spans of one chunk; resolves once there is room for more. */
  add(spans: ReadableSpan[], ticket: DeliveryTicket): Promise<void> {
    const max = this.options.maxBatchSpans;
    let offset = 0;
    while (offset < spans.length) {
      if (this.currentTickets[this.currentTickets.length - 1] !== ticket) {
        ticket.hold();
        this.currentTickets.push(ticket);
      }
      const take = Math.min(max - this.current.length, spans.length - offset);
      for (let i = 0; i < take; i++) this.current.push(spans[offset + i]);
      offset += take;
      if (this.current.length >= max) this.cut();
    }
    ticket.seal();
    this.stats.spansQueued += spans.length;
    if (this.current.length > 0 && this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.cut();
      }, this.options.flushIntervalMs);
    }
    if (this.stats.spansQueued < this.options.maxQueuedSpans) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Sends what is batched and waits until everything is delivered, or `timeoutMs` passes. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.cut();
    if (this.stats.spansQueued === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true)));
    const expired = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    const ok = await Promise.race([drained, expired]);
    clearTimeout(timer);
    return ok;
  }

  /**
   * Stops sending and retrying, waits for the requests in flight, then counts what was not
   * delivered as abandoned.
   */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    await this.exporter.shutdown();
    this.stats.spansFailed += this.stats.spansQueued;
  }

  private cut(): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.current.length === 0) return;
    this.ready.push({ spans: this.current, tickets: this.currentTickets, failures: 0, firstFailureAt: 0 });
    this.current = [];
    this.currentTickets = [];
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.options.maxInFlight && this.ready.length > 0) {
      this.send(this.ready.shift()!);
    }
  }

  private send(batch: Batch): void {
    this.inFlight++;
    this.stats.exportBatches++;
    const started = performance.now();
    this.exporter.export(batch.spans, (result: ExportResult) => {
      this.inFlight--;
      if (result.code === ExportResultCode.SUCCESS) {
        const rejected = takeRejection(this.exporter);
        const refused = Math.min(rejected?.spans ?? 0, batch.spans.length);
        if (rejected !== undefined) {
          this.stats.spansRejected += refused;
          this.options.log(`collector accepted ${batch.spans.length - refused} of ${batch.spans.length} spans and rejected ${refused} as invalid: ${rejected.message || 'no reason given'}`);
        }
        this.stats.exportLatencySecondsSum += (performance.now() - started) / 1000;
        this.stats.exportLatencyCount++;
        this.stats.spansExported += batch.spans.length - refused;
        this.stats.failingSince = 0;
        this.stats.lastExportAt = Date.now();
        this.settle(batch);
      } else if (isTooLarge(result.error) && batch.spans.length > 1 && !this.closed) {
        this.split(batch);
      } else if (isRejectedAsInvalid(result.error)) {
        this.stats.failingSince = 0; // the collector is there, and answered
        this.stats.spansRejected += batch.spans.length;
        this.options.log(`collector rejected ${batch.spans.length} spans as invalid, dropped them: ${describe(result.error)}`);
        this.settle(batch);
      } else {
        this.retryLater(batch, result.error);
      }
      this.pump();
    });
  }

  /** Sends the two halves of a batch the collector found too large, each on its own. */
  private split(batch: Batch): void {
    const half = Math.ceil(batch.spans.length / 2);
    this.options.log(`collector refused ${batch.spans.length} spans as too large (413): sending them as ${half} and ${batch.spans.length - half}`);
    // Both halves carry every ticket of the batch (simpler than tracking which spans came
    // from which chunk): each ticket is held once more, and released by each half.
    for (const ticket of batch.tickets) ticket.hold();
    const halves = [batch.spans.slice(0, half), batch.spans.slice(half)];
    for (const spans of halves.reverse()) this.ready.unshift({ spans, tickets: batch.tickets, failures: 0, firstFailureAt: 0 });
  }

  private settle(batch: Batch): void {
    this.stats.spansQueued -= batch.spans.length;
    for (const ticket of batch.tickets) ticket.release();
    if (this.stats.spansQueued < this.options.maxQueuedSpans) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      for (const wake of waiters) wake();
    }
    if (this.stats.spansQueued === 0 && this.current.length === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private retryLater(batch: Batch, error: Error | undefined): void {
    this.stats.exportFailures++;
    if (this.stats.failingSince === 0) this.stats.failingSince = Date.now();
    if (this.closed) return; // shutting down: shutdown() counts it as failed
    const now = Date.now();
    if (batch.failures === 0) {
      batch.firstFailureAt = now;
      this.options.log(`export of ${batch.spans.length} spans failed, retrying: ${describe(error)}`);
    }
    const giveUp = this.options.giveUpAfterMs;
    if (giveUp !== undefined && now - batch.firstFailureAt >= giveUp) {
      this.stats.spansFailed += batch.spans.length;
      this.options.log(`gave up on ${batch.spans.length} spans after ${Math.round((now - batch.firstFailureAt) / 1000)} s of failed exports: ${describe(error)}`);
      this.settle(batch);
      return;
    }
    this.stats.exportRetries++;
    batch.failures++;
    const backoff = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** (batch.failures - 1));
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.ready.unshift(batch);
      this.pump();
    }, backoff * (0.8 + Math.random() * 0.4));
    this.retryTimers.add(timer);
  }
}

function describe(error: Error | undefined): string {
  return error === undefined ? 'unknown error' : error.message || error.name;
}
