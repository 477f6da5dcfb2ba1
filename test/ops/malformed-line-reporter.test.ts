import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { LineChunk } from '../../src/input/line-chunk.js';
import { MalformedLineReporter } from '../../src/ops/malformed-line-reporter.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

const chunk: LineChunk = { lines: Array.from({ length: 10 }, (_, i) => `bad ${i}`), origin: '/var/log/nginx/access.log', startOffset: 100 };

it('shows the first few in full, then one summary when the window ends, without waiting for another bad line', () => {
  const log: string[] = [];
  const reporter = new MalformedLineReporter((m) => log.push(m), 5, 10_000);
  for (let i = 0; i < 8; i++) reporter.report(chunk, i, 'not JSON');
  expect(log).toHaveLength(5);
  expect(log[0]).toBe('malformed line in /var/log/nginx/access.log at byte 100: not JSON: "bad 0"');
  expect(log[1]).toBe('malformed line in /var/log/nginx/access.log at byte 106: not JSON: "bad 1"');
  vi.advanceTimersByTime(9_999);
  expect(log).toHaveLength(5);
  vi.advanceTimersByTime(1);
  expect(log[5]).toBe('3 more malformed lines in the last 10 s (not shown)');
  // a new window shows lines again; shutdown says what it held back
  for (let i = 0; i < 6; i++) reporter.report(chunk, i, 'not JSON');
  expect(log).toHaveLength(11);
  reporter.summarise();
  expect(log[11]).toBe('1 more malformed line in the last 10 s (not shown)');
  vi.advanceTimersByTime(60_000);
  expect(log).toHaveLength(12);
});
