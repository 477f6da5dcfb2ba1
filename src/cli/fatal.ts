/** An error the sidecar cannot go on from: one sentence on stderr, exit 1 (the checkpoint holds). */
export function fatal(error: Error): never {
  process.stderr.write(`nginx-otel-sidecar: ${error.message}\n`);
  process.exit(1);
}
