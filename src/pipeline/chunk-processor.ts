import type { LineChunk } from '../input/line-chunk.js';
import type { PipelineStats } from '../ops/pipeline-stats.js';

/**
 * Parse → model → deliver for chunks of lines, in this thread or in worker threads.
 */
export interface ChunkProcessor {
  /**
   * Takes a chunk; resolves when the processor can take another (backpressure). `delivered`
   * is called once every span of the chunk was acknowledged by the collector (or dropped
   * as invalid, or given up on, and counted).
   */
  process(chunk: LineChunk, delivered: () => void): Promise<void>;
  /** Sends what is batched and waits until all is delivered or `timeoutMs` passes. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stops retrying and releases the exporter; undelivered spans are counted as failed. */
  shutdown(): Promise<void>;
  /** Counters, summed over workers (as of their last report). */
  stats(): PipelineStats;
}
