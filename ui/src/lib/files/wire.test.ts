import { describe, expect, it } from 'vitest';
import controlVectors from '../../../../src-tauri/core/tests/vectors/file_control.json';
import vectors from '../../../../src-tauri/core/tests/vectors/file_names.json';
import { caseText, expand } from '../vectors.testing';
import { cleanFileName, controlText, formatBytes, isInlineImage, parseFileControl } from './wire';

describe('file control messages', () => {
  it('round-trips every message', () => {
    const sha = 'ab'.repeat(32);
    for (const m of [
      { t: 'file-offer', id: 'a-1', name: 'x.png', size: 5, mime: 'image/png' },
      { t: 'file-accept', id: 'a-1', offset: 0 },
      { t: 'file-ack', id: 'a-1', offset: 1048576 },
      { t: 'file-done', id: 'a-1', sha256: sha },
      { t: 'file-received', id: 'a-1', sha256: sha },
      { t: 'file-cancel', id: 'a-1', reason: 'cancelled' },
    ] as const) {
      expect(parseFileControl(controlText(m))).toEqual(m);
    }
  });

  // The same cases as the app's native side (FileControl::parse in src-tauri/core/src/links/files.rs): both
  // read, refuse and write control messages alike.
  it.each(controlVectors.cases)('parses as the shared vectors say: $name', (c) => {
    const text = caseText(c);
    const parsed = parseFileControl(text);
    expect(parsed).toEqual(expand(c.parsed));
    if ('exact' in c && c.exact) expect(controlText(parsed!)).toBe(text);
  });

  it('refuses malformed ones', () => {
    for (const bad of [
      'not json', '[]', 'null', '{"t":"file-ack","id":"a","offset":-1}', '{"t":"file-ack","id":"a","offset":1.5}',
      '{"t":"file-ack","id":"../x","offset":1}', '{"t":"file-done","id":"a","sha256":"ABC"}',
      '{"t":"file-offer","id":"a","name":"x","size":"5","mime":""}', '{"t":"msg","id":"a"}',
      `{"t":"file-cancel","id":"a","reason":"${'x'.repeat(5000)}"}`,
    ]) {
      expect(parseFileControl(bad), bad).toBeNull();
    }
    expect(parseFileControl(new ArrayBuffer(4))).toBeNull();
  });

  it('keeps offered names to a plain file name', () => {
    expect(cleanFileName('../../etc/passwd')).toBe('passwd');
    expect(cleanFileName('C:\\Users\\a\\report.pdf')).toBe('report.pdf');
    expect(cleanFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(cleanFileName('..')).toBe('file');
    expect(cleanFileName('')).toBe('file');
    expect([...cleanFileName('é'.repeat(400))].length).toBe(255);
  });

  // The same cases as the app's native receiver (src-tauri/core/tests/vectors/file_names.json): a name
  // cannot pretend to be another (bidi overrides) nor fail to save or land on a device on Windows.
  it.each(vectors.cases)('cleans names as the shared vectors say: $name', ({ input, output }) => {
    expect(cleanFileName(input)).toBe(output);
  });

  it('shows raster images inline, never SVG', () => {
    expect(isInlineImage('image/png')).toBe(true);
    expect(isInlineImage('IMAGE/JPEG')).toBe(true);
    expect(isInlineImage('image/svg+xml')).toBe(false);
    expect(isInlineImage('text/html')).toBe(false);
  });

  it('formats sizes', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(20 * 1024 * 1024)).toBe('21 MB');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2.1 GB');
  });
});
