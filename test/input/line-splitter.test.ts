import { describe, expect, it } from 'vitest';
import { LineSplitter, utf8Cut, type LineBatch } from '../../src/input/line-splitter.js';

const batch = (): LineBatch => ({ lines: [], truncated: [] });

function splitAll(pieces: Buffer[], cap?: number): { out: LineBatch; splitter: LineSplitter } {
  const splitter = new LineSplitter(cap);
  const out = batch();
  for (const p of pieces) splitter.push(p, 0, out);
  return { out, splitter };
}

describe('LineSplitter', () => {
  it('holds a partial line until its newline, keeps empty lines and \\r', () => {
    const { out, splitter } = splitAll([Buffer.from('one\ntw'), Buffer.from('o\r\n\nthr'), Buffer.from('ee')]);
    expect(out.lines).toEqual(['one', 'two\r', '']);
    expect(splitter.pendingBytes).toBe(5);
    splitter.flush(out);
    expect(out.lines).toEqual(['one', 'two\r', '', 'three']);
    expect(splitter.pendingBytes).toBe(0);
  });

  it('keeps a multibyte character split at any byte', () => {
    const text = 'a€b😀c\nzß\n';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (let cut2 = cut; cut2 <= bytes.length; cut2++) {
        const { out } = splitAll([bytes.subarray(0, cut), bytes.subarray(cut, cut2), bytes.subarray(cut2)]);
        expect(out.lines).toEqual(['a€b😀c', 'zß']);
      }
    }
  });

  it('turns invalid UTF-8 into U+FFFD without touching the next line', () => {
    const { out } = splitAll([Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x0a, 0x63, 0x0a])]);
    expect(out.lines).toEqual(['a\uFFFDb\uFFFD', 'c']);
  });

  it('stops at maxLines right after a newline and continues from there', () => {
    const splitter = new LineSplitter();
    const buf = Buffer.from('1\n2\n3\n4\n5');
    const first = batch();
    const at = splitter.push(buf, 0, first, 2);
    expect(first.lines).toEqual(['1', '2']);
    expect(at).toBe(4);
    const second = batch();
    expect(splitter.push(buf, at, second, 2)).toBe(8);
    expect(second.lines).toEqual(['3', '4']);
    const third = batch();
    expect(splitter.push(buf, 8, third, 2)).toBe(buf.length);
    expect(third.lines).toEqual([]);
    expect(splitter.pendingBytes).toBe(1);
  });

  it('cuts a 10 MB line to the cap, holding at most the cap, neighbours intact', () => {
    const cap = 1024 * 1024;
    const splitter = new LineSplitter(cap);
    const out = batch();
    const piece = Buffer.alloc(64 * 1024, 'x');
    splitter.push(Buffer.from('before\nxx'), 0, out);
    for (let sent = 2; sent < 10 * 1024 * 1024; sent += piece.length) splitter.push(piece, 0, out);
    expect(splitter.pendingBytes).toBeGreaterThan(10 * 1024 * 1024);
    splitter.push(Buffer.from('\nafter\n'), 0, out);
    expect(out.lines.length).toBe(3);
    expect(out.lines[0]).toBe('before');
    expect(out.lines[1].length).toBe(cap);
    expect(out.lines[2]).toBe('after');
    expect(out.truncated).toEqual([1]);
    expect(splitter.linesTruncated).toBe(1);
    expect(splitter.maxHeldBytes).toBeLessThanOrEqual(cap);
  });

  it('cuts an over-long line inside one buffer on a character boundary', () => {
    const splitter = new LineSplitter(8);
    const out = batch();
    splitter.push(Buffer.from('abcdef€€\nok\n'), 0, out); // € is 3 bytes: 6 + 3 > 8
    expect(out.lines).toEqual(['abcdef', 'ok']);
    expect(out.truncated).toEqual([0]);
  });

  it('utf8Cut backs off only from an incomplete sequence', () => {
    const b = Buffer.from('a€'); // 61 e2 82 ac
    expect(utf8Cut(b, 0, 4)).toBe(4);
    expect(utf8Cut(b, 0, 3)).toBe(1);
    expect(utf8Cut(b, 0, 2)).toBe(1);
    expect(utf8Cut(b, 0, 1)).toBe(1);
  });
});
