import type { LineChunk, ResumePosition } from '../input/line-chunk.js';

/**
 * Follows one chunk's spans through the batcher. The chunk is delivered when every batch
 * that carried some of its spans was acknowledged (or dropped as invalid, and counted).
 */
export class DeliveryTicket {
  private pendingBatches = 0;
  private sealed = false;
  private done = false;

  constructor(private readonly delivered: () => void) {}

  /** A batch now carries spans of this chunk. */
  hold(): void {
    this.pendingBatches++;
  }

  /** A batch that carried spans of this chunk was settled. */
  release(): void {
    this.pendingBatches--;
    this.settle();
  }

  /** All of the chunk's spans have been handed to the batcher. */
  seal(): void {
    this.sealed = true;
    this.settle();
  }

  private settle(): void {
    if (this.sealed && this.pendingBatches === 0 && !this.done) {
      this.done = true;
      this.delivered();
    }
  }
}

/**
 * Acknowledges an input's positions in order: a chunk's resume position is passed on only
 * when it and every earlier chunk of the same input are delivered, so a checkpoint never
 * skips a line whose spans are still in flight (batches complete out of order).
 */
export class InOrderAcknowledger {
  private readonly queue: Array<{ resume: ResumePosition | undefined; delivered: boolean }> = [];
  private head = 0;

  constructor(private readonly acknowledge: (position: ResumePosition) => void) {}

  /** Registers the chunk (in input order); returns the callback that marks it delivered. */
  track(chunk: LineChunk): () => void {
    const entry = { resume: chunk.resume, delivered: false };
    this.queue.push(entry);
    return () => {
      entry.delivered = true;
      this.drain();
    };
  }

  private drain(): void {
    let last: ResumePosition | undefined;
    while (this.head < this.queue.length && this.queue[this.head].delivered) {
      last = this.queue[this.head].resume ?? last;
      this.head++;
    }
    if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (last !== undefined) this.acknowledge(last);
  }
}
