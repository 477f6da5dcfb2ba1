import { afterEach } from 'vitest';

/**
 * Stops what a test started, newest first, after each test, passed or failed (a failing
 * stop does not keep the others from running):
 *
 *   const stopLater = stopAfterEach();
 *   const sink = stopLater(await startSpanSink(), (s) => s.close());
 *   let sidecar = stopLater(run.sidecar, (s) => s.stop('SIGKILL'));
 */
export function stopAfterEach(): <T>(thing: T, stop: (thing: T) => unknown) => T {
  const stops: Array<() => unknown> = [];
  afterEach(async () => {
    const errors: unknown[] = [];
    for (let stop = stops.pop(); stop !== undefined; stop = stops.pop()) {
      try {
        await stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (thing, stop) => {
    stops.push(() => stop(thing));
    return thing;
  };
}
