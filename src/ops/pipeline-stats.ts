/**
 * The sidecar's own counters, read by the summary line, /metrics and the status log.
 * Plain fields on one object: incrementing them is on the hot path.
 */
export class PipelineStats {
  linesRead = 0;
  linesParsed = 0;
  linesMalformed = 0;
  spansCreated = 0;
  spansExported = 0;
  /** Spans the collector rejected as invalid (HTTP 400/413, or named in a partial success): logged, counted, not retried. */
  spansRejected = 0;
  /** Spans given up on: the collector did not take them before a deadline (shutdown, replay's give-up). */
  spansFailed = 0;
  /** Requests kept because they must be (slow or failed connect, suspected SYN retransmit, error, retry). */
  requestsKeptForCause = 0;
  /** Requests left out by sampling (see --sample-ratio); their lines still count as parsed. */
  requestsSampledOut = 0;
  exportBatches = 0;
  exportRetries = 0;
  exportFailures = 0;
  /** Spans waiting for the collector: batched, in flight, or waiting to be retried. */
  spansQueued = 0;
  exportLatencySecondsSum = 0;
  exportLatencyCount = 0;
  /** When the current run of failed exports began (ms since epoch), or 0 while exports succeed. */
  failingSince = 0;
  lastExportAt = 0;
  /** When this thread started (the process, in the main thread): not when these counters were made. */
  readonly startedAt = Math.round(performance.timeOrigin);
}
