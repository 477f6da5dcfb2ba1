// Runs the real sidecar CLI (dist/, built by the global setup) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from './cleanup.ts';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface Sidecar {
  child: ChildProcess;
  /** Everything the sidecar wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** SIGTERM (or the given signal), then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * Starts the CLI. `run` keeps only a tenth of ordinary requests by default; tests that count
 * requests need all of them, so `--sample-ratio 1` is added unless the test sets a ratio.
 */
export function startSidecar(args: string[], env: Record<string, string> = {}): Sidecar {
  const full = args[0] === 'run' && !args.includes('--sample-ratio') ? [...args, '--sample-ratio', '1'] : args;
  const child = spawn(process.execPath, [CLI, ...full], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { err += text; });
  child.stdout!.setEncoding('utf8').on('data', (text: string) => { out += text; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : null))));
  const cleanup = registerCleanup(`sidecar ${child.pid}`, () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      cleanup.cancel();
      return code;
    },
    async waitForStderr(pattern: RegExp, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(err)) {
        if (Date.now() > deadline) throw new Error(`sidecar never logged ${pattern}; stderr:\n${err}`);
        if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}; stderr:\n${err}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const sidecar = startSidecar(args, env);
  const code = await sidecar.exited;
  return { code, stdout: sidecar.stdout(), stderr: sidecar.stderr() };
}
