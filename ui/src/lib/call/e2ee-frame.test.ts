// The SFU frame format (e2ee-frame.ts, docs/security.md): what stays clear, what is sealed, the trailer,
// and that a frame opens only with its sender's key.
import { describe, expect, it } from 'vitest';
import { IV_BYTES, TAG_BYTES, TRAILER_BYTES, clearBytes, frameKeyId, importFrameKey, newKeyBytes, openFrame, sealFrame } from './e2ee-frame';

// A VP8 key frame starts with a frame tag whose bit 0 is 0, then the start code 9d 01 2a and the size.
const keyFrame = Uint8Array.from([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...Array.from({ length: 40 }, (_, i) => i)]);
const deltaFrame = Uint8Array.from([0x31, 0x07, 0x00, ...Array.from({ length: 30 }, (_, i) => 200 - i)]);
const opusPacket = Uint8Array.from([0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('SFU frame format', () => {
  it('round-trips a key frame, a delta frame and an Opus packet, leaving the prefix clear', async () => {
    const key = await importFrameKey(newKeyBytes());
    for (const [kind, frame, clear] of [['video', keyFrame, 10], ['video', deltaFrame, 3], ['audio', opusPacket, 1]] as const) {
      const iv = Uint8Array.from({ length: IV_BYTES }, (_, i) => i + 1);
      const sealed = await sealFrame(key, 7, kind, frame, iv);
      expect(sealed.length).toBe(frame.length + TAG_BYTES + TRAILER_BYTES);
      expect([...sealed.subarray(0, clear)]).toEqual([...frame.subarray(0, clear)]);
      // Nothing after the prefix is the frame's own bytes.
      expect([...sealed.subarray(clear, frame.length)]).not.toEqual([...frame.subarray(clear)]);
      expect([...sealed.subarray(sealed.length - TRAILER_BYTES, sealed.length - 1)]).toEqual([...iv]);
      expect(sealed[sealed.length - 1]).toBe(7);
      expect(frameKeyId(sealed)).toBe(7);
      expect([...((await openFrame(key, kind, sealed)) ?? [])]).toEqual([...frame]);
    }
  });

  it('does not open with another key, nor with a changed prefix, ciphertext or IV', async () => {
    const key = await importFrameKey(newKeyBytes());
    const other = await importFrameKey(newKeyBytes());
    const sealed = await sealFrame(key, 1, 'video', keyFrame);
    expect(await openFrame(other, 'video', sealed)).toBeNull();
    for (const at of [5, 20, sealed.length - 4]) {
      const changed = Uint8Array.from(sealed);
      changed[at]! ^= 0x01;
      expect(await openFrame(key, 'video', changed)).toBeNull();
    }
    expect(await openFrame(key, 'video', sealed.subarray(0, 12))).toBeNull();
  });

  it('keeps a frame shorter than its prefix wholly clear and still authenticated', async () => {
    const key = await importFrameKey(newKeyBytes());
    const tiny = Uint8Array.from([0x31, 0x02]);
    expect(clearBytes('video', tiny[0], tiny.length)).toBe(2);
    const sealed = await sealFrame(key, 0, 'video', tiny);
    expect(sealed.length).toBe(2 + TAG_BYTES + TRAILER_BYTES);
    expect([...((await openFrame(key, 'video', sealed)) ?? [])]).toEqual([...tiny]);
    expect([...((await openFrame(key, 'audio', await sealFrame(key, 0, 'audio', new Uint8Array(0)))) ?? [9])]).toEqual([]);
  });
});
