/**
 * Last-resort cleanup for everything the test support starts (nginx children, iptables
 * rules, network namespaces, temp dirs). Each resource registers a synchronous undo
 * function; it runs when the resource is disposed normally, or at process exit / on
 * SIGINT, SIGTERM, SIGHUP if it never was. Synchronous because `exit` handlers can't wait.
 */

type Undo = () => void;

const pending = new Map<number, { label: string; undo: Undo }>();
let nextId = 1;
let installed = false;

function runAll(): void {
  // Newest first: a rule added inside a namespace must go before the namespace.
  const entries = [...pending.entries()].reverse();
  pending.clear();
  for (const [, { label, undo }] of entries) {
    try {
      undo();
    } catch (err) {
      process.stderr.write(`cleanup of ${label} failed: ${(err as Error).message}\n`);
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', runAll);
  const signals: Array<[NodeJS.Signals, number]> = [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]];
  for (const [signal, number] of signals) {
    process.once(signal, () => {
      runAll();
      process.exit(128 + number);
    });
  }
}

/** Runs the undo now (at most once); `cancel()` forgets it without running it. */
export interface Cleanup {
  (): void;
  cancel(): void;
}

/**
 * Registers `undo` to run at exit unless disposed first. Returns a dispose function that
 * runs `undo` now (at most once, later calls are no-ops).
 */
export function registerCleanup(label: string, undo: Undo): Cleanup {
  install();
  const id = nextId++;
  pending.set(id, { label, undo });
  const dispose = (): void => {
    const entry = pending.get(id);
    if (entry === undefined) return;
    pending.delete(id);
    entry.undo();
  };
  return Object.assign(dispose, { cancel: () => { pending.delete(id); } });
}

/** Runs every registered cleanup now (e.g. in a test's afterAll as a safety net). */
export function cleanupAll(): void {
  runAll();
}

/** Labels of what is still registered (for diagnostics). */
export function pendingCleanups(): string[] {
  return [...pending.values()].map((e) => e.label);
}
