// Ringing people away from the room (their devices registered for pushes): the call rings each of their
// devices through the server, waits 45 s for one of them to come online and ask to join, lets in only a
// room member by that name, and stops the ringing of their devices when it is answered, declined, hung up
// or over. And the answering side: the page opened from the notification asks the caller to let it in.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../protocol.gen';
import { awayWithin, Call, OFFLINE_RING_TIMEOUT_MS, RING_TIMEOUT_MS, type AwayDevice, type MediaLink } from './call.svelte';

const NAMES: Record<string, string> = { alice: 'Alice', bob: 'Bob', 'bob-new': 'Bob', carol: 'Carol', mallory: 'Mallory' };

const stream = { getTracks: () => [], getAudioTracks: () => [], getVideoTracks: () => [] } as unknown as MediaStream;

function person(room: () => string[], away: AwayDevice[] = []) {
  const sent: Array<{ to: string; data: SignalData }> = [];
  const rings: string[] = [];
  const cancels: string[] = [];
  const system: string[] = [];
  const live = new Set<string>();
  const link = (peer: string): MediaLink => ({
    setLocalMedia: () => void live.add(peer),
    prepareLocalMedia: () => undefined,
    clearLocalMedia: () => void live.delete(peer),
    shareVideo: () => undefined,
    videoSender: () => undefined,
    measure: async () => null,
  });
  const call = new Call(
    {
      peers: room,
      nameOf: (p) => NAMES[p] ?? 'someone',
      signal: (to, data) => sent.push({ to, data }),
      link,
      system: (text) => system.push(text),
      away: () => away,
      ring: (device, id) => rings.push(`${device} ${id}`),
      ringCancel: (device, id) => cancels.push(`${device} ${id}`),
    },
    async () => ({ stream, notice: null }),
  );
  return { call, sent, rings, cancels, system, live };
}

const bobsDevices: AwayDevice[] = [
  { device: 'bob-phone', name: 'Bob' },
  { device: 'bob-laptop', name: 'Bob' },
];

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('calling someone away', () => {
  it('rings each of their devices, alone in the room, and waits 45 s before "No answer"', async () => {
    const alice = person(() => [], bobsDevices);
    await alice.call.start();
    const id = alice.call.id;
    expect(alice.call.phase).toBe('outgoing');
    expect(alice.rings).toEqual([`bob-phone ${id}`, `bob-laptop ${id}`]);
    expect(alice.sent).toEqual([]); // nobody present to invite
    expect(alice.call.ringingAway.map((d) => d.device)).toEqual(['bob-phone', 'bob-laptop']);
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS);
    expect(alice.call.phase).toBe('outgoing'); // a phone takes longer than a page to answer
    await vi.advanceTimersByTimeAsync(OFFLINE_RING_TIMEOUT_MS - RING_TIMEOUT_MS);
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe('No answer.');
    expect(alice.cancels).toEqual([`bob-phone ${id}`, `bob-laptop ${id}`]); // their notifications turn into missed calls
    expect(alice.call.ringingAway).toEqual([]);
  });

  it('nobody present and nobody away: nothing rings', async () => {
    const alice = person(() => []);
    await alice.call.start();
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe('Nobody else is in this room yet.');
  });

  it('Bob comes online and asks to join: let in, his devices stop ringing, the call stays on', async () => {
    let room: string[] = [];
    const alice = person(() => room, bobsDevices);
    await alice.call.start();
    const id = alice.call.id!;
    room = ['bob-new'];
    alice.call.onSignal('bob-new', { kind: 'join-call', call: id });
    expect(alice.call.phase).toBe('active');
    expect(alice.call.participants).toEqual(['bob-new']);
    expect(alice.sent).toContainEqual({ to: 'bob-new', data: { kind: 'accept', call: id } });
    expect(alice.live.has('bob-new')).toBe(true);
    expect(alice.cancels).toEqual([`bob-phone ${id}`, `bob-laptop ${id}`]);
    expect(alice.call.ringingAway).toEqual([]);
    await vi.advanceTimersByTimeAsync(OFFLINE_RING_TIMEOUT_MS + 1000);
    expect(alice.call.phase).toBe('active');
    expect(alice.system).toEqual([]);
  });

  it('only a member by a rung name gets in, and only with the call id', async () => {
    const room = ['mallory', 'bob-new'];
    const alice = person(() => room, bobsDevices);
    // Mallory is present: she is invited like anyone present; her join-call is not an answer from away.
    await alice.call.start();
    const id = alice.call.id!;
    alice.call.onSignal('bob-new', { kind: 'join-call', call: 'another-call' });
    expect(alice.call.participants).toEqual([]);
    const stranger = person(() => ['carol'], bobsDevices);
    await stranger.call.start();
    stranger.call.onSignal('carol', { kind: 'join-call', call: stranger.call.id! });
    expect(stranger.call.participants).toEqual([]);
    expect(stranger.call.phase).toBe('outgoing');
    alice.call.onSignal('bob-new', { kind: 'join-call', call: id });
    expect(alice.call.participants).toEqual(['bob-new']);
  });

  it('a decline from one of his devices ends it with "Bob declined the call."; his other device stops ringing', async () => {
    const alice = person(() => [], bobsDevices);
    await alice.call.start();
    const id = alice.call.id;
    alice.call.awayDeclined('bob-laptop');
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe('Bob declined the call.');
    expect(alice.system).toEqual(['Bob declined the call.']);
    expect(alice.cancels).toEqual([`bob-phone ${id}`]);
  });

  it('hanging up before stops the ringing of every device', async () => {
    const alice = person(() => [], bobsDevices);
    await alice.call.start();
    const id = alice.call.id;
    alice.call.hangup();
    expect(alice.call.phase).toBe('idle');
    expect(alice.cancels).toEqual([`bob-phone ${id}`, `bob-laptop ${id}`]);
  });

  it('devices the server could not ring: said, and the call ends when nobody is left', async () => {
    const alice = person(() => [], bobsDevices);
    await alice.call.start();
    alice.call.awayUnreachable('bob-phone');
    expect(alice.call.phase).toBe('outgoing');
    alice.call.awayUnreachable('bob-laptop');
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe("Bob's devices could not be rung.");
    expect(alice.cancels).toEqual([]);
  });

  it('someone present declining leaves the call ringing Bob\'s devices', async () => {
    const alice = person(() => ['carol'], bobsDevices);
    await alice.call.start();
    const id = alice.call.id!;
    expect(alice.sent).toEqual([{ to: 'carol', data: { kind: 'invite', call: id, media: ['audio', 'video'] } }]);
    alice.call.onSignal('carol', { kind: 'decline', call: id });
    expect(alice.call.phase).toBe('outgoing');
    expect(alice.call.ringingAway).toHaveLength(2);
  });

  it('rings at most as many people away as the call has room for, with all their devices', () => {
    const away = [
      ...bobsDevices,
      { device: 'c1', name: 'Carol' },
      { device: 'd1', name: 'Dave' },
    ];
    expect(awayWithin(away, 2)).toEqual([...bobsDevices, { device: 'c1', name: 'Carol' }]);
    expect(awayWithin(away, 0)).toEqual([]);
  });
});

describe('an answer after the call ended', () => {
  it('is declined by the caller for 45 s, and the answering page says the call has ended', async () => {
    let room: string[] = [];
    const alice = person(() => room, bobsDevices);
    await alice.call.start();
    const id = alice.call.id!;
    alice.call.hangup();
    room = ['bob-new'];
    alice.sent.length = 0;
    alice.call.onSignal('bob-new', { kind: 'join-call', call: id });
    expect(alice.sent).toEqual([{ to: 'bob-new', data: { kind: 'decline', call: id } }]);
    expect(alice.call.phase).toBe('idle');
    alice.call.onSignal('bob-new', { kind: 'join-call', call: 'some-other-call' }); // not ours: nothing said
    expect(alice.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(OFFLINE_RING_TIMEOUT_MS);
    alice.call.onSignal('bob-new', { kind: 'join-call', call: id });
    expect(alice.sent).toHaveLength(1); // long over: forgotten

    const bob = person(() => ['alice']);
    await bob.call.answerFromAway(id, 'alice');
    bob.call.onSignal('alice', { kind: 'decline', call: id });
    expect(bob.call.phase).toBe('idle');
    expect(bob.call.notice).toBe('The call has ended.');
  });
});

describe('answering from away', () => {
  it('the page opened from the notification asks the caller to let it in, then exchanges media', async () => {
    const bob = person(() => ['alice']);
    await bob.call.answerFromAway('c1', 'alice');
    expect(bob.call.phase).toBe('active');
    expect(bob.sent).toEqual([{ to: 'alice', data: { kind: 'join-call', call: 'c1' } }]);
    bob.call.onSignal('alice', { kind: 'accept', call: 'c1' });
    expect(bob.call.participants).toEqual(['alice']);
    expect(bob.live.has('alice')).toBe(true);
  });

  it('the caller has left the room: the call has ended', async () => {
    const bob = person(() => []);
    await bob.call.answerFromAway('c1', 'alice');
    expect(bob.call.phase).toBe('idle');
    expect(bob.call.notice).toBe('The call has ended.');
    expect(bob.sent).toEqual([]);
  });

  it('no answer from the caller (the call ended meanwhile): back to idle after 30 s', async () => {
    const bob = person(() => ['alice']);
    await bob.call.answerFromAway('c1', 'alice');
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS);
    expect(bob.call.phase).toBe('idle');
    expect(bob.call.notice).toBe('The call has ended.');
  });
});
