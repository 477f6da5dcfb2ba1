#!/usr/bin/env node
// The installed command. Checks the Node.js version before anything else loads: the
// OpenTelemetry packages need 22.15 or newer, and on an older Node the first sign would
// be a SyntaxError deep in an import.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`nginx-otel-sidecar: needs Node.js 22.15 or newer; this is ${process.versions.node}\n`);
  process.exit(2);
}
await import('./main.js');
