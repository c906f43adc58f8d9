// Protects the chat input rules and the receiver against malformed or hostile data-channel payloads.
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_CHARS, newChatMessage, parseChannelMessage, validateBody } from './message';

describe('chat messages', () => {
  it('refuses empty and overlong bodies with a clear reason', () => {
    expect(validateBody('   ')).toMatch(/Type a message/);
    expect(validateBody('x'.repeat(MAX_MESSAGE_CHARS + 1))).toMatch(/limited to 2000/);
    expect(validateBody('hi')).toBeNull();
  });

  it('gives every message a time-ordered unique id', () => {
    const a = newChatMessage('a', 'Ann');
    const b = newChatMessage('b', 'Ann');
    expect(a.id).not.toBe(b.id);
    expect(a.id[14]).toBe('7');
  });

  it('parses only well-formed payloads', () => {
    const m = newChatMessage('<img src=x onerror=alert(1)>', 'Ann');
    expect(parseChannelMessage(JSON.stringify(m))).toEqual(m);
    expect(parseChannelMessage('{"t":"ack","id":"x"}')).toEqual({ t: 'ack', id: 'x' });
    expect(parseChannelMessage('not json')).toBeNull();
    expect(parseChannelMessage('{"t":"msg","id":1}')).toBeNull();
    expect(parseChannelMessage(new ArrayBuffer(2))).toBeNull();
  });
});
