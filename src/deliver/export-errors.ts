import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';

/**
 * Which export failures drop a batch. Only a collector's answer that the request itself is
 * bad (400 Bad Request, 413 Payload Too Large) does: sending it again cannot succeed (a 413
 * batch is first split, see isTooLarge). Every other failure (connection refused, timeouts,
 * 429, 5xx, and also 401/403/404, which a corrected configuration fixes) is retried, so a
 * collector outage loses nothing.
 */
export function isRejectedAsInvalid(error: Error | undefined): boolean {
  return error instanceof OTLPExporterError && (error.code === 400 || error.code === 413);
}

/** 413 Payload Too Large: the collector's body limit; the halves of the batch may fit. */
export function isTooLarge(error: Error | undefined): boolean {
  return error instanceof OTLPExporterError && error.code === 413;
}
