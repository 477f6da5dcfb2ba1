import { InOrderAcknowledger } from '../deliver/delivery-ticket.js';
import type { LineInput } from '../input/line-chunk.js';
import type { ChunkProcessor } from './chunk-processor.js';

/**
 * input → (parse → model → deliver). Chunks flow one way; each input's resume positions
 * flow back to it, in order, once the collector has every span of the lines before them.
 */
export async function runInput(input: LineInput, processor: ChunkProcessor, signal: AbortSignal): Promise<void> {
  const acknowledger = new InOrderAcknowledger((position) => input.acknowledge?.(position));
  await input.run((chunk) => processor.process(chunk, acknowledger.track(chunk)), signal);
}
