// A pipeline worker thread: parse → model → deliver for the chunks the pool sends it.
import { parentPort, workerData } from 'node:worker_threads';
import { assembleLocalProcessor } from './assemble-processor.js';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-messages.js';

const STATS_INTERVAL_MS = 250;
const port = parentPort!;
const setup = workerData as WorkerSetup;
const post = (message: FromWorker) => port.postMessage(message);
const log = (message: string) => post({ t: 'log', text: `${new Date().toISOString()} nginx-otel-sidecar: ${message}\n` });
const processor = assembleLocalProcessor(setup.options, log, setup.giveUpAfterMs);
const snapshot = () => ({ ...processor.stats() });

const statsTimer = setInterval(() => post({ t: 'stats', stats: snapshot() }), STATS_INTERVAL_MS);

// Chunks are taken one at a time, in the order they came: `process` resolves once the
// batcher has room, and only then is the next chunk started.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'chunk':
      queue = queue.then(async () => {
        await processor.process(
          { lines: message.lines, origin: message.origin, startOffset: message.startOffset },
          () => post({ t: 'delivered', id: message.id }),
        );
        post({ t: 'accepted', id: message.id });
      });
      break;
    case 'flush':
      queue = queue.then(async () => {
        const ok = await processor.flush(message.timeoutMs);
        post({ t: 'flushed', ok, stats: snapshot() });
      });
      break;
    case 'shutdown':
      queue = queue.then(async () => {
        clearInterval(statsTimer);
        await processor.shutdown();
        post({ t: 'shut', stats: snapshot() });
      });
      break;
  }
});
