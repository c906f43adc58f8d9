// Protects reconnects: a resumed session must ask for exactly the frames it missed and never process a
// replayed frame twice (which would duplicate chat acks or ICE candidates).
import { describe, expect, it } from 'vitest';
import { SessionTracker } from './session';
import type { ServerFrame } from '../protocol.gen';

const welcome = (seq: number, resumed: boolean, session = 's1', peer = 'p1'): ServerFrame => ({
  type: 'welcome', seq, peer, session, resumed, resume_token: `rt-${session}-${seq}`, heartbeat_ms: 10000, ice_servers: [],
});
const pong = (seq: number): ServerFrame => ({ type: 'pong', seq });

describe('SessionTracker', () => {
  it('sends a plain hello first and a resume with the last processed seq after', () => {
    const t = new SessionTracker();
    expect(t.hello('Ann')).toEqual({ type: 'hello', v: 1, name: 'Ann' });
    t.accept(welcome(1, false));
    t.accept(pong(2));
    t.accept(pong(3));
    expect(t.hello('Ann', 'jwt')).toEqual({
      type: 'hello', v: 1, name: 'Ann', token: 'jwt', resume: { session: 's1', last_seq: 3, token: 'rt-s1-1' },
    });
  });

  it('resumes with the resume token of the latest welcome (a resumed welcome brings a new one)', () => {
    const t = new SessionTracker();
    t.accept(welcome(1, false));
    t.accept(pong(2));
    expect(t.hello('Ann').resume).toEqual({ session: 's1', last_seq: 2, token: 'rt-s1-1' });
    t.accept(welcome(2, true));
    expect(t.hello('Ann').resume?.token).toBe('rt-s1-2');
  });

  it('drops frames replayed twice and accepts the continuation', () => {
    const t = new SessionTracker();
    t.accept(welcome(1, false));
    expect(t.accept(pong(2))).toBe(true);
    // Reconnect: the server replays from our last_seq.
    expect(t.accept(welcome(2, true))).toBe(true);
    expect(t.accept(pong(2))).toBe(false);
    expect(t.accept(pong(3))).toBe(true);
    expect(t.lastSeq).toBe(3);
  });

  it('restarts numbering on a fresh session after the grace period', () => {
    const t = new SessionTracker();
    t.accept(welcome(1, false));
    t.accept(pong(2));
    t.accept(welcome(1, false, 's2', 'p2'));
    expect(t.accept(pong(2))).toBe(true);
    expect(t.session).toBe('s2');
  });
});
