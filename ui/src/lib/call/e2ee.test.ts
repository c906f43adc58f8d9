// The `sfu-key` chat channel message (docs/security.md, "Calls through the SFU"): what a peer sends is read
// back exactly, and anything that is not a well-formed key (a wrong length, an id outside 0–255, no call,
// bad base64, not JSON) is not taken for one, so a broken or hostile peer cannot install a key.
import { describe, expect, it } from 'vitest';
import { parseSfuKey, sfuKeyText } from './e2ee';

const raw = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const b64 = (bytes: number[]) => btoa(String.fromCharCode(...bytes));

describe('sfu-key messages', () => {
  it('read back what was sent', () => {
    expect(parseSfuKey(sfuKeyText('c-1', 255, raw))).toEqual({ call: 'c-1', id: 255, raw });
  });

  it.each([
    ['a key of 31 bytes', JSON.stringify({ t: 'sfu-key', call: 'c', id: 1, key: b64(new Array(31).fill(1)) })],
    ['a key of 33 bytes', JSON.stringify({ t: 'sfu-key', call: 'c', id: 1, key: b64(new Array(33).fill(1)) })],
    ['an id above 255', JSON.stringify({ t: 'sfu-key', call: 'c', id: 256, key: b64([...raw]) })],
    ['a negative id', JSON.stringify({ t: 'sfu-key', call: 'c', id: -1, key: b64([...raw]) })],
    ['a fractional id', JSON.stringify({ t: 'sfu-key', call: 'c', id: 1.5, key: b64([...raw]) })],
    ['no call', JSON.stringify({ t: 'sfu-key', id: 1, key: b64([...raw]) })],
    ['a key that is not base64', JSON.stringify({ t: 'sfu-key', call: 'c', id: 1, key: '%%%' })],
    ['another message type', JSON.stringify({ t: 'typing', call: 'c', id: 1, key: b64([...raw]), note: 'sfu-key' })],
    ['text that is not JSON', 'my "sfu-key" is {broken'],
    ['a chat message', 'hello'],
  ])('ignore %s', (_what, text) => {
    expect(parseSfuKey(text)).toBeNull();
  });
});
