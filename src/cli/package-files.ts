import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file shipped with the package (nginx/, samples/), found from src/ or dist/src/. */
export function packageFile(relative: string): string {
  for (const up of ['../../', '../../../']) {
    const path = fileURLToPath(new URL(up + relative, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`${relative} is missing from the installation`);
}
