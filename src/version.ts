import { readFileSync } from 'node:fs';

/** The package version, for the instrumentation scope and --version (from src/ or dist/src/). */
export const VERSION: string = readVersion();

function readVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'nginx-otel-sidecar' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not this one
    }
  }
  return '0.0.0';
}
