// analyze's inputs: plain files, gzip (by magic bytes, concatenated members), stdin `-`,
// several files at once, missing files, malformed lines. All data is a recorded fixture,
// compressed, split, concatenated or prefixed — never written by hand, except the one junk
// line in the malformed-line test (what is asserted there is that it is counted, not parsed).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeFiles } from '../../src/analyze/analyze.js';
import { toJsonReport, type JsonReport } from '../../src/analyze/json-report.js';
import { InputError } from '../../src/analyze/read-input.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const SYN = join(FIXTURES, 'syn-drop-linear.json.log');
const HEALTHY = join(FIXTURES, 'healthy.json.log');
const dir = mkdtempSync(join(tmpdir(), 'nos-analyze-inputs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The report without what legitimately differs between two reads of the same lines. */
function comparable(report: JsonReport): JsonReport {
  return { ...report, inputs: [], elapsed_seconds: 0, malformed_examples: report.malformed_examples.map((e) => ({ ...e, input: '' })) };
}

const reference = comparable(toJsonReport(await analyzeFiles([SYN])));

describe('analyze inputs', () => {
  it('reads a gzip file (recognised by its magic bytes, whatever its name) like the plain one', async () => {
    const gz = join(dir, 'syn.log.gz');
    writeFileSync(gz, gzipSync(readFileSync(SYN)));
    const disguised = join(dir, 'syn-compressed.log');
    writeFileSync(disguised, gzipSync(readFileSync(SYN)));
    expect(comparable(toJsonReport(await analyzeFiles([gz])))).toEqual(reference);
    expect(comparable(toJsonReport(await analyzeFiles([disguised])))).toEqual(reference);
  });

  it('reads concatenated gzip members (cat a.gz b.gz) through to the end', async () => {
    const bytes = readFileSync(SYN);
    const cut = bytes.indexOf(10, Math.floor(bytes.length / 2)) + 1;
    const path = join(dir, 'members.gz');
    writeFileSync(path, Buffer.concat([gzipSync(bytes.subarray(0, cut)), gzipSync(bytes.subarray(cut))]));
    expect(comparable(toJsonReport(await analyzeFiles([path])))).toEqual(reference);
  });

  it('reads standard input for `-`, plain or gzip', async () => {
    const plain = await analyzeFiles(['-'], { stdin: createReadStream(SYN) });
    expect(comparable(toJsonReport(plain))).toEqual(reference);
    expect(plain.inputs).toEqual(['-']);
    const gz = await analyzeFiles(['-'], { stdin: Readable.from([gzipSync(readFileSync(SYN))]) });
    expect(comparable(toJsonReport(gz))).toEqual(reference);
  });

  it('reads stdin given as strings in small pieces, lines split anywhere, CRLF line ends', async () => {
    const text = readFileSync(SYN, 'utf8').replace(/\n/g, '\r\n');
    const pieces: string[] = [];
    for (let i = 0; i < text.length; i += 97) pieces.push(text.slice(i, i + 97));
    const result = await analyzeFiles(['-'], { stdin: Readable.from(pieces) });
    expect(comparable(toJsonReport(result))).toEqual(reference);
  });

  it('adds several inputs together (a file split in two gives the same report)', async () => {
    const lines = readFileSync(SYN, 'utf8').split('\n');
    const a = join(dir, 'part-a.log');
    const b = join(dir, 'part-b.log');
    writeFileSync(a, lines.slice(0, 120).join('\n') + '\n');
    writeFileSync(b, lines.slice(120).join('\n'));
    const result = await analyzeFiles([a, b]);
    expect(comparable(toJsonReport(result))).toEqual(reference);
    expect(result.inputs).toEqual([a, b]);
  });

  it('counts malformed lines (truncated, junk, empty JSON) and goes on', async () => {
    const lines = readFileSync(HEALTHY, 'utf8').trimEnd().split('\n');
    const truncated = lines[3].slice(0, 200); // a line cut short, as a crash mid-write leaves it
    const path = join(dir, 'with-junk.log');
    writeFileSync(path, [...lines.slice(0, 10), truncated, 'not a log line', '{}', ...lines.slice(10)].join('\n') + '\n');
    const result = await analyzeFiles([path]);
    const clean = await analyzeFiles([HEALTHY]);
    expect(result.malformed).toBe(3);
    expect(result.lines).toBe(lines.length + 3);
    expect(result.records).toBe(clean.records);
    expect(result.malformedExamples.map((e) => e.lineNumber)).toEqual([11, 12, 13]);
    expect(toJsonReport(result).upstreams).toEqual(toJsonReport(clean).upstreams);
  });

  it('an empty input is no error: zero lines, no upstreams', async () => {
    const path = join(dir, 'empty.log');
    writeFileSync(path, '');
    const result = await analyzeFiles([path]);
    expect(result.lines).toBe(0);
    expect(result.upstreams).toEqual([]);
  });

  it('a missing file is one clear InputError before anything is read', async () => {
    const missing = join(dir, 'nope.log');
    await expect(analyzeFiles([SYN, missing])).rejects.toThrow(InputError);
    await expect(analyzeFiles([missing])).rejects.toThrow(`Cannot read ${missing}: no such file.`);
    await expect(analyzeFiles([dir])).rejects.toThrow('is a directory');
    await expect(analyzeFiles(['-', '-'])).rejects.toThrow('only once');
  });

  it('a corrupt gzip file is one clear InputError', async () => {
    const path = join(dir, 'broken.gz');
    const gz = gzipSync(readFileSync(SYN));
    writeFileSync(path, gz.subarray(0, Math.floor(gz.length / 2)));
    await expect(analyzeFiles([path])).rejects.toThrow(/Cannot read .*broken\.gz: it looks gzip-compressed but is corrupt or truncated/);
  });
});
