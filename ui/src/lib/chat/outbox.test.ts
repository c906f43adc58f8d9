// Protects "no message is lost": messages stay queued per peer until acked, are resent when a channel
// reopens, and show pending → sent → delivered.
import { describe, expect, it } from 'vitest';
import { Outbox } from './outbox';
import type { ChatMessage } from './message';

const msg = (id: string, sentAt = 1): ChatMessage => ({ t: 'msg', id, body: `body ${id}`, sentAt, name: 'Ann' });

describe('Outbox', () => {
  it('goes pending → sent → delivered for one peer', () => {
    const o = new Outbox();
    o.add(msg('m1'), ['bob']);
    expect(o.status('m1')).toBe('pending');
    expect(o.unackedFor('bob').map((m) => m.id)).toEqual(['m1']);
    o.markSent('m1', 'bob');
    expect(o.status('m1')).toBe('sent');
    o.ack('m1', 'bob');
    expect(o.status('m1')).toBe('delivered');
    expect(o.size).toBe(0);
  });

  it('resends unacked messages in order when the channel reopens', () => {
    const o = new Outbox();
    o.add(msg('m2', 2), ['bob']);
    o.add(msg('m1', 1), ['bob']);
    o.markSent('m1', 'bob');
    o.markSent('m2', 'bob');
    o.ack('m1', 'bob');
    expect(o.unackedFor('bob').map((m) => m.id)).toEqual(['m2']);
  });

  it('is delivered only when every addressed peer acked', () => {
    const o = new Outbox();
    o.add(msg('m1'), ['bob', 'cy']);
    o.markSent('m1', 'bob');
    o.ack('m1', 'bob');
    expect(o.status('m1')).toBe('sent');
    o.ack('m1', 'mallory');
    expect(o.status('m1')).toBe('sent');
    o.removePeer('cy');
    expect(o.status('m1')).toBe('delivered');
  });

  it('gives a message written while alone to the next peer', () => {
    const o = new Outbox();
    o.add(msg('m1'), []);
    expect(o.status('m1')).toBe('pending');
    expect(o.unackedFor('dan').map((m) => m.id)).toEqual(['m1']);
    o.ack('m1', 'dan');
    expect(o.status('m1')).toBe('delivered');
  });

  it('follows a peer to its new id after a fresh signaling session', () => {
    const o = new Outbox();
    o.add(msg('m1'), ['old']);
    o.renamePeer('old', 'new');
    expect(o.unackedFor('new')).toHaveLength(1);
    o.ack('m1', 'new');
    expect(o.size).toBe(0);
  });

  it('a rename never merges ack state: what the new id never acked is not delivered and goes to it again', () => {
    const o = new Outbox();
    o.add(msg('m1'), ['old', 'new']);
    o.markSent('m1', 'old');
    o.ack('m1', 'old');
    o.renamePeer('old', 'new');
    expect(o.status('m1')).not.toBe('delivered');
    expect(o.unackedFor('new').map((m) => m.id)).toEqual(['m1']);
    o.removePeer('someone-else');
    expect(o.status('m1')).not.toBe('delivered');
    o.ack('m1', 'new');
    expect(o.status('m1')).toBe('delivered');
  });
});
