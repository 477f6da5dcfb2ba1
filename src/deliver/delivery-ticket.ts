import type { LineChunk, ResumePosition } from '../input/line-chunk.js';

/**
 * Follows one chunk's spans through delivery. The chunk is done when every batch that
 * carried some of its spans was acknowledged (or dropped as invalid and counted).
 */
export class DeliveryTicket {
  private pendingBatches = 0;
  private sealed = false;
  done = false;

  constructor(readonly resume: ResumePosition | undefined, private readonly onDone: (ticket: DeliveryTicket) => void) {}

  /** A batch now carries spans of this chunk. */
  hold(): void {
    this.pendingBatches++;
  }

  /** A batch that carried spans of this chunk was acknowledged or dropped. */
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
      this.onDone(this);
    }
  }
}

/**
 * Acknowledges an input's positions in order: a chunk's resume position is passed on only
 * when it and every earlier chunk of the same input are done, so a checkpoint never skips
 * a line whose spans are still in flight.
 */
export class InOrderAcknowledger {
  private readonly queue: DeliveryTicket[] = [];
  private head = 0;

  constructor(private readonly acknowledge: (position: ResumePosition) => void) {}

  ticketFor(chunk: LineChunk): DeliveryTicket {
    const ticket = new DeliveryTicket(chunk.resume, () => this.drain());
    this.queue.push(ticket);
    return ticket;
  }

  private drain(): void {
    let last: ResumePosition | undefined;
    while (this.head < this.queue.length && this.queue[this.head].done) {
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
