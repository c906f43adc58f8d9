// What one person's file offers may cost the others (docs/files.md, "Limits"; docs/security.md): a flood
// of offers shows a bounded number of rows and the rest are refused unseen; at most a few files come in
// at once from one person and overall, the others wait their turn (the sender is told to wait) and start
// as earlier ones end; a transfer with nothing arriving for a minute fails and frees its place.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FILE_IDLE_TIMEOUT_MS, FILE_WAIT_NOTICE_MS, MAX_INCOMING_FILES, MAX_INCOMING_FILES_PER_PEER, MAX_WAITING_FILE_OFFERS,
} from '../core.gen';
import { IncomingLimits } from './limits';
import { FileTransfers } from './transfers.svelte';

/** Just enough of an RTCDataChannel for the receiving side. */
class FakeChannel {
  binaryType = 'blob';
  readyState: RTCDataChannelState = 'open';
  bufferedAmount = 0;
  readonly sent: unknown[] = [];
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;

  send(data: unknown): void {
    if (this.readyState !== 'open') throw new Error('send on a closed channel');
    this.sent.push(data);
  }

  close(): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.onclose?.();
  }

  offer(id: string, size = 10): void {
    this.onmessage?.({ data: JSON.stringify({ t: 'file-offer', id, name: `${id}.bin`, size, mime: '' }) });
  }

  controls(): Array<Record<string, unknown>> {
    return this.sent.filter((s): s is string => typeof s === 'string').map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  last(): Record<string, unknown> | undefined {
    return this.controls().at(-1);
  }
}

const rows: string[] = [];
function receiver(): FileTransfers {
  rows.length = 0;
  const links = {
    peers: () => [],
    openChannel: () => null,
    nameOf: (p: string) => p,
    showRow: (key: string) => rows.push(key),
  };
  return new FileTransfers(links, () => 1_000_000, new IncomingLimits());
}

function offer(files: FileTransfers, peer: string, id: string): FakeChannel {
  const channel = new FakeChannel();
  files.accept(peer, channel as unknown as RTCDataChannel);
  channel.offer(id);
  return channel;
}

/** Waits until every channel got its first answer (the receiver sets up its hash first). */
async function answered(channels: FakeChannel[]): Promise<void> {
  await vi.waitFor(() => expect(channels.every((c) => c.sent.length > 0)).toBe(true));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('limits on received files', () => {
  it('shows a bounded number of rows for a flood of 5 000 offers and refuses the rest unseen', async () => {
    const files = receiver();
    const channels = Array.from({ length: 5000 }, (_, i) => offer(files, 'p-eve', `flood-${i}`));
    await answered(channels);
    expect(rows.length).toBeLessThanOrEqual(MAX_INCOMING_FILES_PER_PEER + MAX_WAITING_FILE_OFFERS);
    expect(files.droppedOffers).toBe(5000 - rows.length);
    const refused = channels.filter((c) => c.last()?.t === 'file-cancel');
    expect(refused.length).toBe(5000 - rows.length);
    expect(refused.every((c) => c.readyState === 'closed')).toBe(true);
    // Someone else is not affected by Eve's flood beyond the overall limit.
    const bob = offer(files, 'p-bob', 'from-bob');
    await answered([bob]);
    expect(bob.last()?.t).toBe('file-accept');
  });

  it('takes a few files at once per person and overall; the others wait and start as earlier ones end', async () => {
    const files = receiver();
    const fromAnn = Array.from({ length: MAX_INCOMING_FILES_PER_PEER + 2 }, (_, i) => offer(files, 'p-ann', `ann-${i}`));
    await answered(fromAnn);
    const kinds = (cs: FakeChannel[]) => cs.map((c) => `${String(c.last()?.t)}@${String(c.last()?.offset)}`);
    expect(kinds(fromAnn)).toEqual([
      ...Array<string>(MAX_INCOMING_FILES_PER_PEER).fill('file-accept@0'),
      'file-ack@0', 'file-ack@0', // "stored 0 bytes so far": wait
    ]);
    const others = MAX_INCOMING_FILES - MAX_INCOMING_FILES_PER_PEER;
    const fromBob = Array.from({ length: others + 1 }, (_, i) => offer(files, 'p-bob', `bob-${i}`));
    await answered(fromBob);
    expect(kinds(fromBob)).toEqual([...Array<string>(others).fill('file-accept@0'), 'file-ack@0']);
    expect(files.all['file-in-ann-4']!.note).toMatch(/wait/i);

    // Ann's first ends: her first waiting file takes its place (not Bob's, whose limit is reached).
    files.cancel('file-in-ann-0');
    expect(fromAnn[4]!.last()?.t).toBe('file-accept');
    expect(fromAnn[5]!.last()?.t).toBe('file-ack');
    expect(fromBob[others]!.last()?.t).toBe('file-ack');
    expect(files.all['file-in-ann-4']!.note).toBeNull();
  });

  it('keeps telling a waiting sender to wait, so it does not give up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const files = receiver();
    const channels = Array.from({ length: MAX_INCOMING_FILES_PER_PEER + 1 }, (_, i) => offer(files, 'p-ann', `w-${i}`));
    await answered(channels);
    const waiting = channels[MAX_INCOMING_FILES_PER_PEER]!;
    const before = waiting.controls().length;
    vi.advanceTimersByTime(FILE_WAIT_NOTICE_MS * 3);
    expect(waiting.controls().length).toBeGreaterThanOrEqual(before + 3);
    expect(waiting.controls().every((m) => m.t === 'file-ack' && m.offset === 0)).toBe(true);
  });

  it('fails a transfer that receives nothing for a minute, and frees its place', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const files = receiver();
    const channels = Array.from({ length: MAX_INCOMING_FILES_PER_PEER + 1 }, (_, i) => offer(files, 'p-ann', `i-${i}`));
    await answered(channels);
    // The first keeps sending a little; the others stall.
    for (let s = 0; s < FILE_IDLE_TIMEOUT_MS; s += FILE_IDLE_TIMEOUT_MS / 4) {
      channels[0]!.onmessage?.({ data: new Uint8Array(1).buffer });
      vi.advanceTimersByTime(FILE_IDLE_TIMEOUT_MS / 4);
    }
    vi.advanceTimersByTime(1000);
    expect(files.all['file-in-i-0']!.status).toBe('receiving');
    for (const i of [1, 2, 3]) {
      expect(files.all[`file-in-i-${i}`]!.status).toBe('failed');
      expect(files.all[`file-in-i-${i}`]!.note).toMatch(/nothing arrived/);
      expect(channels[i]!.last()?.t).toBe('file-cancel');
      expect(channels[i]!.readyState).toBe('closed');
    }
    // The waiting one got a place (and its own minute).
    expect(channels[4]!.last()?.t).toBe('file-accept');
    expect(files.all['file-in-i-4']!.status).toBe('receiving');
  });
});
