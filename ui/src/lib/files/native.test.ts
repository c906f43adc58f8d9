// Files in the app window over the native links: the picked file reaches the app whole and in order, one
// transfer per person; rows follow the app's events (progress, done with where it was saved, cancelled,
// failed); cancel names the transfer; images get a thumbnail from their bytes, never SVG.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileRecord, FileTransfer } from '../ipc.gen';

const app = vi.hoisted(() => ({
  calls: [] as Array<[string, Record<string, unknown>]>,
  answers: {} as Record<string, (args: Record<string, unknown>) => unknown>,
  listener: null as null | ((t: unknown) => void),
}));

vi.mock('../ipc', () => ({
  call: async (name: string, args: Record<string, unknown> = {}) => {
    app.calls.push([name, args]);
    await new Promise((r) => setTimeout(r, 1));
    const answer = app.answers[name];
    if (!answer) throw { kind: 'unavailable', message: `no ${name}` };
    return answer(args);
  },
  on: async (_name: string, handler: (t: unknown) => void) => {
    app.listener = handler;
    return () => (app.listener = null);
  },
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));

const { NativeFiles, UPLOAD_CHUNK_BYTES, fromBase64, imageType } = await import('./native.svelte');

/** Base64 of `bytes`, as the app sends a thumbnail's bytes (`file_image`). */
const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const { insertByTime } = await import('./rows');

const rows: Array<[string, boolean, string]> = [];
const links = {
  peers: () => ['p-bob', 'p-cy'],
  nameOf: (p: string) => ({ 'p-bob': 'Bob', 'p-cy': 'Cy' })[p] ?? 'someone',
  showRow: (key: string, mine: boolean, fromName: string) => rows.push([key, mine, fromName]),
};

function transfer(over: Partial<FileTransfer>): FileTransfer {
  return {
    room: 'team', peer: 'p-bob', id: 't1', name: 'a.bin', size: 1000, incoming: true, status: 'receiving',
    confirmed: 0, sha256: null, path: null, ended: null, reason: null, ...over,
  };
}

/** Byte-equal (faster than a deep equality over megabytes). */
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

const settle = () => new Promise((r) => setTimeout(r, 20));

beforeEach(() => {
  app.calls = [];
  app.listener = null;
  rows.length = 0;
  app.answers = { file_transfers: () => [] };
});

describe('NativeFiles', () => {
  it('draws a row per transfer from the app events, with progress, the hash and where it was saved', async () => {
    const files = new NativeFiles('team', links);
    await settle();
    app.listener?.(transfer({ room: 'elsewhere', id: 'x' }));
    app.listener?.(transfer({}));
    expect(rows).toEqual([['file-in-t1', false, 'Bob']]);
    app.listener?.(transfer({ confirmed: 500 }));
    const row = files.all['file-in-t1']!;
    expect([row.status, row.progress, row.active]).toEqual(['receiving', 50, true]);
    app.listener?.(transfer({ status: 'done', confirmed: 1000, sha256: 'ab'.repeat(32), path: '/home/ann/Downloads/a.bin' }));
    expect([row.status, row.progress, row.sha256, row.path]).toEqual(['done', 100, 'ab'.repeat(32), '/home/ann/Downloads/a.bin']);
    expect(Object.keys(files.all)).toEqual(['file-in-t1']);
  });

  it('says why a transfer failed or was cancelled', async () => {
    const files = new NativeFiles('team', links);
    app.listener?.(transfer({ id: 'o1', incoming: false, status: 'sending' }));
    app.listener?.(transfer({ id: 'o1', incoming: false, status: 'cancelled', reason: 'the receiver cancelled' }));
    app.listener?.(transfer({ id: 'i2', status: 'failed', reason: 'the file arrived damaged (SHA-256 mismatch)' }));
    expect([files.all['file-out-o1']!.status, files.all['file-out-o1']!.note]).toEqual(['cancelled', 'the receiver cancelled']);
    expect([files.all['file-in-i2']!.status, files.all['file-in-i2']!.note]).toEqual(['failed', 'the file arrived damaged (SHA-256 mismatch)']);
    expect(files.all['file-out-o1']!.active).toBe(false);
  });

  it('shows transfers that started before the room was shown', async () => {
    app.answers.file_transfers = () => [transfer({ id: 'old', status: 'receiving', confirmed: 250 })];
    const files = new NativeFiles('team', links);
    await settle();
    expect(files.all['file-in-old']!.progress).toBe(25);
  });

  it('hands the picked file to the app whole, in order, and sends it to everyone connected', async () => {
    const bytes = new Uint8Array(UPLOAD_CHUNK_BYTES * 2 + 123).map((_, i) => (i * 7) % 256);
    const chunks: Uint8Array[] = [];
    let length = 0;
    app.answers.file_send_start = () => 'up-1';
    app.answers.file_send_chunk = ({ offset, data }) => {
      expect(offset).toBe(length);
      chunks.push(data as Uint8Array);
      length += chunks.at(-1)!.length;
      return length;
    };
    app.answers.file_send_finish = () => ['o1', 'o2'];
    const files = new NativeFiles('team', links);
    files.send(new File([bytes], 'report.pdf'));
    const [placeholder] = Object.values(files.all);
    expect([placeholder!.status, placeholder!.mine, placeholder!.note]).toEqual(['sending', true, 'Preparing…']);
    await vi.waitFor(() => expect(app.calls.some(([n]) => n === 'file_send_finish')).toBe(true), { timeout: 10_000 });
    await settle();
    const received = new Uint8Array(length);
    chunks.reduce((at, c) => (received.set(c, at), at + c.length), 0);
    expect(same(received, bytes)).toBe(true);
    expect(chunks.map((c) => c.length)).toEqual([UPLOAD_CHUNK_BYTES, UPLOAD_CHUNK_BYTES, 123]);
    expect(app.calls.find(([n]) => n === 'file_send_start')![1]).toEqual({ name: 'report.pdf', size: bytes.length });
    expect(app.calls.find(([n]) => n === 'file_send_finish')![1]).toEqual({ upload: 'up-1', room: 'team', peers: ['p-bob', 'p-cy'] });
    // The transfers' own rows come from the app's events; the "preparing" row goes.
    expect(Object.keys(files.all)).toEqual([]);
  });

  it('cancels by transfer id, and a file still being handed over is dropped', async () => {
    app.answers.file_cancel = () => true;
    app.answers.file_send_start = () => 'up-2';
    app.answers.file_send_chunk = ({ offset }) => offset;
    app.answers.file_send_abort = () => null;
    const files = new NativeFiles('team', links);
    app.listener?.(transfer({ id: 'o9', incoming: false, status: 'sending' }));
    files.cancel('file-out-o9');
    await settle();
    expect(app.calls).toContainEqual(['file_cancel', { id: 'o9' }]);
    files.send(new File([new Uint8Array(UPLOAD_CHUNK_BYTES * 3)], 'big.bin'));
    const key = Object.keys(files.all).find((k) => k.startsWith('file-up-'))!;
    files.cancel(key);
    await vi.waitFor(() => expect(app.calls).toContainEqual(['file_send_abort', { upload: 'up-2' }]));
    expect(files.all[key]!.status).toBe('cancelled');
    expect(app.calls.some(([n]) => n === 'file_send_finish')).toBe(false);
  });

  it('refuses files over the limit and files with nobody to send to', () => {
    const files = new NativeFiles('team', links, () => 10);
    files.send(new File([new Uint8Array(11)], 'x.bin'));
    expect(files.error).toMatch(/limited to 10 B/);
    const alone = new NativeFiles('team', { ...links, peers: () => [] });
    alone.send(new File([new Uint8Array(1)], 'x.bin'));
    expect(alone.error).toBe('Nobody here to send it to yet.');
    expect(app.calls.some(([n]) => n === 'file_send_start')).toBe(false);
  });

  it('a failed hand-over says why', async () => {
    app.answers.file_send_start = () => {
      throw { kind: 'disk_full', message: 'No space left on device' };
    };
    const files = new NativeFiles('team', links);
    files.send(new File([new Uint8Array(5)], 'x.bin'));
    await settle();
    const [row] = Object.values(files.all);
    expect([row!.status, row!.note]).toEqual(['failed', 'No space left on device']);
  });

  it('a received raster image gets a thumbnail from its bytes; other files do not', async () => {
    app.answers.file_image = () => toBase64(new Uint8Array([137, 80, 78, 71]));
    const files = new NativeFiles('team', links);
    app.listener?.(transfer({ id: 'img', name: 'cat.png', status: 'done', path: '/d/cat.png' }));
    app.listener?.(transfer({ id: 'svg', name: 'x.svg', status: 'done', path: '/d/x.svg' }));
    await settle();
    expect(files.all['file-in-img']!.url).toMatch(/^blob:/);
    expect(files.all['file-in-svg']!.url).toBeNull();
    expect(app.calls.filter(([n]) => n === 'file_image')).toEqual([['file_image', { id: 'img' }]]);
  });
});

describe('files from the history', () => {
  const record = (over: Partial<FileRecord>): FileRecord => ({
    transfer_id: 't1', room: 'team', peer: 'p-old', peer_name: 'Dora', direction: 'incoming', name: 'a.bin', size: 1000,
    sha256: 'ab'.repeat(32), path: '/home/ann/Downloads/a.bin', at: 1000, ...over,
  });

  it('shows earlier sessions\' files as done rows, oldest first, at their time, without doubling this run\'s', async () => {
    const placed: Array<[string, boolean, string, number]> = [];
    app.answers.file_transfers = () => [transfer({ id: 'now', status: 'done', confirmed: 1000, sha256: 'cd'.repeat(32), path: '/d/a.bin' })];
    app.answers.file_image = () => toBase64(new Uint8Array([137, 80, 78, 71]));
    // Newest first, as the app answers.
    app.answers.file_history = () => [
      record({ transfer_id: 'now', at: 3000, sha256: 'cd'.repeat(32) }),
      record({ transfer_id: 'pic', name: 'cat.png', path: '/d/cat.png', at: 2000 }),
      record({ transfer_id: 'sent', direction: 'outgoing', name: 'r.pdf', path: '/data/sending/1/r.pdf', at: 1000 }),
    ];
    const files = new NativeFiles('team', { ...links, showPastRow: (key, mine, fromName, at) => placed.push([key, mine, fromName, at]) });
    await settle();
    await files.showHistory();
    await settle();
    // This run's transfer listed when the room opened keeps its row, moved to when it finished.
    expect(placed).toEqual([
      ['file-out-sent', true, '', 1000],
      ['file-in-pic', false, 'Dora', 2000],
      ['file-in-now', false, 'Dora', 3000],
    ]);
    expect(files.all['file-in-now']!.path).toBe('/d/a.bin');
    expect(Object.keys(files.all).sort()).toEqual(['file-in-now', 'file-in-pic', 'file-out-sent']);
    const pic = files.all['file-in-pic']!;
    expect([pic.status, pic.progress, pic.active, pic.sha256, pic.path]).toEqual(['done', 100, false, 'ab'.repeat(32), '/d/cat.png']);
    expect(pic.url).toMatch(/^blob:/);
    const sent = files.all['file-out-sent']!;
    expect([sent.mine, sent.path, files.peerName(sent.peer)]).toEqual([true, null, 'Dora']);
    // Names a past file by its transfer id (the app finds the saved path in its history).
    files.reveal('file-in-pic');
    await settle();
    expect(app.calls).toContainEqual(['file_reveal', { id: 'pic' }]);
    expect(app.calls).toContainEqual(['file_image', { id: 'pic' }]);
  });

  it('without a history the room still works', async () => {
    const files = new NativeFiles('team', links);
    await files.showHistory();
    expect(files.all).toEqual({});
  });
});

describe('helpers', () => {
  it('puts a line among others by time', () => {
    const lines = [{ id: 'a', sentAt: 10 }, { id: 'b', sentAt: 20 }, { id: 'c', sentAt: 20 }, { id: 'd', sentAt: 30 }];
    insertByTime(lines, { id: 'x', sentAt: 20 });
    insertByTime(lines, { id: 'first', sentAt: 1 });
    insertByTime(lines, { id: 'last', sentAt: 99 });
    expect(lines.map((l) => l.id)).toEqual(['first', 'a', 'b', 'c', 'x', 'd', 'last']);
    insertByTime(lines, { id: 'last', sentAt: 15 });
    expect(lines.map((l) => l.id)).toEqual(['first', 'a', 'last', 'b', 'c', 'x', 'd']);
  });

  it('base64 round-trips any bytes', () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 31) % 256);
    expect(same(fromBase64(toBase64(bytes)), bytes)).toBe(true);
    expect(toBase64(new Uint8Array([104, 105]))).toBe('aGk=');
  });

  it('only raster images have an image type', () => {
    expect(imageType('a.JPG')).toBe('image/jpeg');
    expect(imageType('a.svg')).toBe('application/octet-stream');
    expect(imageType('png')).toBe('application/octet-stream');
  });
});
