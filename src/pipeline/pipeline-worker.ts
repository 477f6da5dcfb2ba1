// A pipeline worker thread: parse → model → deliver for the chunks the pool sends it.
import { parentPort, workerData } from 'node:worker_threads';
import { RequestMetricsRecorder } from '../ops/metrics/request-metrics-recorder.js';
import { assembleLocalProcessor } from './assemble-processor.js';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-messages.js';

const STATS_INTERVAL_MS = 250;
const port = parentPort!;
const setup = workerData as WorkerSetup;
const post = (message: FromWorker) => port.postMessage(message);
const log = (message: string) => post({ t: 'log', text: `${new Date().toISOString()} nginx-otel-sidecar: ${message}\n` });
const metrics = setup.metrics === true ? new RequestMetricsRecorder(setup.options.stepTolerance) : undefined;
const processor = assembleLocalProcessor(setup.options, log, setup.giveUpAfterMs, metrics);
const snapshot = () => ({ ...processor.stats() });

const statsTimer = setInterval(() => post({ t: 'stats', stats: snapshot(), metrics: metrics?.takeDelta() }), STATS_INTERVAL_MS);

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
        post({ t: 'flushed', ok, stats: snapshot(), metrics: metrics?.takeDelta() });
      });
      break;
    case 'shutdown':
      // Not behind the queued chunks: it follows a flush, which waited for them, or the
      // flush's deadline, when they wait for a collector that is away.
      clearInterval(statsTimer);
      void processor.shutdown().then(() => post({ t: 'shut', stats: snapshot(), metrics: metrics?.takeDelta() }));
      break;
  }
});
