// The call state machine as people see it: both calling at once ends in one call, unanswered rings end as
// "No answer" / "Missed call" after 30 s, and a group call (mesh of up to 6) keeps track of who accepted,
// declined and hung up. Peer links and the camera are fakes; signals go through an in-memory relay.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../protocol.gen';
import { Call, MAX_CALL_PEOPLE, RING_TIMEOUT_MS } from './call.svelte';
import type { LocalMedia } from './media';
import type { PeerLink } from './peer';

const NAMES: Record<string, string> = { alice: 'Alice', bob: 'Bob', carol: 'Carol', dave: 'Dave', erin: 'Erin', frank: 'Frank', gina: 'Gina', hal: 'Hal' };

interface FakeTrack {
  kind: string;
  enabled: boolean;
  stopped: boolean;
  stop(): void;
}

function fakeStream(): MediaStream {
  const tracks = ['audio', 'video'].map((kind): FakeTrack => ({
    kind,
    enabled: true,
    stopped: false,
    stop() {
      this.stopped = true;
    },
  }));
  return {
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === 'audio'),
    getVideoTracks: () => tracks.filter((t) => t.kind === 'video'),
  } as unknown as MediaStream;
}

const stopped = (stream: MediaStream | null) => (stream?.getTracks() as unknown as FakeTrack[]).every((t) => t.stopped);

/** What the call does to one peer link: media prepared (ringing), live (in the call), cleared (ended). */
class FakeLink {
  prepared: MediaStream | null = null;
  live: MediaStream | null = null;
  cleared = 0;
  readonly pc = { getStats: async () => new Map() };
  prepareLocalMedia(stream: MediaStream) {
    this.prepared = stream;
  }
  setLocalMedia(stream: MediaStream) {
    this.live = stream;
  }
  clearLocalMedia() {
    this.live = null;
    this.prepared = null;
    this.cleared += 1;
  }
  videoSender() {
    return undefined;
  }
}

interface Person {
  name: string;
  call: Call;
  sent: Array<{ to: string; data: SignalData }>;
  system: string[];
  links: Map<string, FakeLink>;
  /** Finishes opening the camera (held until the test says so when `holdMedia` is set). */
  openCamera(): void;
}

/** One person's call; `deliver` carries their signals to the other person's call (two-sided tests). */
function person(name: string, room: string[], options: { holdMedia?: boolean; deliver?: (to: string, data: SignalData) => void } = {}): Person {
  const sent: Person['sent'] = [];
  const system: string[] = [];
  const links = new Map<string, FakeLink>();
  const waiting: Array<() => void> = [];
  const media = () =>
    new Promise<LocalMedia>((resolve) => {
      const open = () => resolve({ stream: fakeStream(), notice: null });
      if (options.holdMedia) waiting.push(open);
      else open();
    });
  const call = new Call(
    {
      peers: () => room,
      nameOf: (p) => NAMES[p] ?? 'someone',
      signal: (to, data) => {
        sent.push({ to, data });
        options.deliver?.(to, data);
      },
      link: (p) => {
        if (!links.has(p)) links.set(p, new FakeLink());
        return links.get(p) as unknown as PeerLink;
      },
      system: (text) => system.push(text),
    },
    media,
  );
  return { name, call, sent, system, links, openCamera: () => waiting.splice(0).forEach((open) => open()) };
}

const kinds = (p: Person) => p.sent.map((s) => s.data.kind);
const flush = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('glare: both people call each other at once', () => {
  /** Alice and Bob, whose signals queue in flight until `deliver()` (crossing invites need both in flight). */
  function pairInFlight(holdMedia = false) {
    const inFlight: Array<() => void> = [];
    const people: Record<string, Person> = {};
    const relay = (from: string) => (to: string, data: SignalData) => inFlight.push(() => people[to]?.call.onSignal(from, data));
    people.alice = person('alice', ['bob'], { holdMedia, deliver: relay('alice') });
    people.bob = person('bob', ['alice'], { holdMedia, deliver: relay('bob') });
    /** `newestFirst` hands the later invite over first: who handles the other's invite first must not matter. */
    const deliver = (newestFirst = false) => {
      while (inFlight.length > 0) (newestFirst ? inFlight.pop() : inFlight.shift())?.();
    };
    return { alice: people.alice, bob: people.bob, deliver };
  }

  it.each([false, true])('ends in one call with the smaller call id on both sides (later invite first: %s)', async (newestFirst) => {
    const { alice, bob, deliver } = pairInFlight();
    void alice.call.start();
    void bob.call.start();
    await flush();
    const ids = [alice.call.id, bob.call.id];
    expect(alice.call.phase).toBe('outgoing');
    expect(bob.call.phase).toBe('outgoing');
    deliver(newestFirst); // both invites cross; the accept they cause goes out in turn
    await flush();

    const winner = [...ids].sort()[0];
    for (const [me, other] of [[alice, bob], [bob, alice]] as const) {
      expect(me.call.phase).toBe('active');
      expect(me.call.id).toBe(winner);
      expect(me.call.caller).toBeNull(); // nobody sees an incoming-call prompt
      expect(me.call.participants).toEqual([other.name]);
      expect(me.links.get(other.name)?.live).toBe(me.call.localStream);
      expect(kinds(me)).not.toContain('decline');
    }
    // The ring timers are gone: the call is not ended as unanswered later.
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS + 1000);
    expect([alice.call.phase, bob.call.phase]).toEqual(['active', 'active']);
    expect([...alice.system, ...bob.system]).toEqual([]);
  });

  it('reaches a participant who joined while the camera was still starting', async () => {
    const { alice, bob, deliver } = pairInFlight(true);
    void alice.call.start();
    void bob.call.start();
    deliver();
    await flush();
    expect(alice.call.phase).toBe('active');
    expect(bob.call.phase).toBe('active');
    expect(alice.links.get('bob')?.live ?? null).toBeNull(); // no camera yet
    alice.openCamera();
    bob.openCamera();
    await flush();
    expect(alice.links.get('bob')?.live).toBe(alice.call.localStream);
    expect(bob.links.get('alice')?.live).toBe(bob.call.localStream);
    expect(alice.call.localStream).not.toBeNull();
  });
});

describe('ringing that nobody answers', () => {
  it('the caller gives up after 30 s: cancel sent, "No answer", camera off', async () => {
    const alice = person('alice', ['bob']);
    await alice.call.start();
    const id = alice.call.id;
    const stream = alice.call.localStream;
    expect(alice.links.get('bob')?.prepared).toBe(stream); // media negotiated while it rings, not sent
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS - 1);
    expect(alice.call.phase).toBe('outgoing');
    await vi.advanceTimersByTimeAsync(1);
    expect(alice.call.phase).toBe('idle');
    expect(alice.sent.at(-1)).toEqual({ to: 'bob', data: { kind: 'cancel', call: id } });
    expect(alice.system).toEqual(['No answer.']);
    expect(alice.call.notice).toBe('No answer.');
    expect(stopped(stream)).toBe(true);
  });

  it('the person rung sees a missed call after 30 s, and after the caller cancels', async () => {
    const bob = person('bob', ['alice']);
    bob.call.onSignal('alice', { kind: 'invite', call: 'c1', media: ['audio', 'video'] });
    expect(bob.call.phase).toBe('incoming');
    expect(bob.call.caller).toBe('alice');
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS);
    expect(bob.call.phase).toBe('idle');
    expect(bob.system).toEqual(['Missed call from Alice.']);

    bob.call.onSignal('alice', { kind: 'invite', call: 'c2', media: ['audio', 'video'] });
    bob.call.onSignal('alice', { kind: 'cancel', call: 'c1' }); // an old call's cancel changes nothing
    expect(bob.call.phase).toBe('incoming');
    bob.call.onSignal('alice', { kind: 'cancel', call: 'c2' });
    expect(bob.call.phase).toBe('idle');
    expect(bob.system).toEqual(['Missed call from Alice.', 'Missed call from Alice.']);
    expect(bob.sent).toEqual([]); // nothing answered
  });

  it('a caller who leaves the room while ringing is a missed call', () => {
    const bob = person('bob', ['alice']);
    bob.call.onSignal('alice', { kind: 'invite', call: 'c1', media: ['audio', 'video'] });
    bob.call.peerGone('alice');
    expect(bob.call.phase).toBe('idle');
    expect(bob.system).toEqual(['Missed call from Alice.']);
  });
});

describe('group calls (mesh)', () => {
  const everyone = ['bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hal'];

  it(`rings at most ${MAX_CALL_PEOPLE - 1} others`, async () => {
    const alice = person('alice', everyone);
    await alice.call.start();
    expect(alice.sent.filter((s) => s.data.kind === 'invite').map((s) => s.to)).toEqual(everyone.slice(0, MAX_CALL_PEOPLE - 1));
  });

  it('tracks accepts, declines and hang-ups until the last participant leaves', async () => {
    const alice = person('alice', ['bob', 'carol', 'dave']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    expect(alice.call.phase).toBe('active');
    alice.call.onSignal('carol', { kind: 'accept', call });
    alice.call.onSignal('dave', { kind: 'decline', call });
    alice.call.onSignal('carol', { kind: 'accept', call: 'another call' }); // ignored
    expect(alice.call.participants).toEqual(['bob', 'carol']);
    expect(alice.system).toEqual(['Dave declined the call.']);
    expect(alice.links.get('bob')?.live).toBe(alice.call.localStream);
    expect(alice.links.get('carol')?.live).toBe(alice.call.localStream);
    expect(alice.links.get('dave')?.cleared).toBe(1);

    alice.call.onSignal('bob', { kind: 'hangup', call });
    expect(alice.call.phase).toBe('active');
    expect(alice.call.participants).toEqual(['carol']);
    expect(alice.links.get('bob')?.live).toBeNull();
    alice.call.onSignal('carol', { kind: 'hangup', call });
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe('Carol hung up.');
  });

  it('our call takes an accept only from someone we invited who has not declined, up to the cap', async () => {
    const alice = person('alice', ['bob', 'carol']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('mallory', { kind: 'accept', call }); // never invited (e.g. joined later)
    alice.call.onSignal('carol', { kind: 'decline', call });
    alice.call.onSignal('carol', { kind: 'accept', call }); // after declining
    expect(alice.call.phase).toBe('outgoing');
    expect(alice.call.participants).toEqual([]);
    expect(alice.links.get('mallory')?.live ?? null).toBeNull();
    expect(alice.links.get('carol')?.live ?? null).toBeNull();
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.call.onSignal('bob', { kind: 'hangup', call });
    alice.call.onSignal('bob', { kind: 'accept', call }); // back after hanging up: not invited any more
    expect(alice.call.participants).toEqual([]);
  });

  it(`an answered call takes at most ${MAX_CALL_PEOPLE} people`, async () => {
    const bob = person('bob', everyone);
    bob.call.onSignal('alice', { kind: 'invite', call: 'g', media: ['audio', 'video'] });
    await bob.call.accept();
    for (const p of everyone) bob.call.onSignal(p, { kind: 'accept', call: 'g' });
    expect(bob.call.participants.length).toBe(MAX_CALL_PEOPLE - 1);
  });

  it('everyone declining ends the call; hanging up tells every participant', async () => {
    const alice = person('alice', ['bob', 'carol']);
    await alice.call.start();
    let call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'decline', call });
    expect(alice.call.phase).toBe('outgoing');
    alice.call.onSignal('carol', { kind: 'decline', call });
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.notice).toBe('Carol declined the call.');

    await alice.call.start();
    call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.call.onSignal('carol', { kind: 'accept', call });
    alice.sent.length = 0;
    const stream = alice.call.localStream;
    alice.call.hangup();
    expect(alice.sent).toEqual([
      { to: 'bob', data: { kind: 'hangup', call } },
      { to: 'carol', data: { kind: 'hangup', call } },
    ]);
    expect(alice.call.phase).toBe('idle');
    expect(alice.call.participants).toEqual([]);
    expect(stopped(stream)).toBe(true);
  });

  it('accepting a group call connects to the caller and to those who accepted while it rang', async () => {
    const dave = person('dave', ['alice', 'bob', 'carol']);
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'] });
    dave.call.onSignal('bob', { kind: 'accept', call: 'g1' });
    dave.call.onSignal('carol', { kind: 'accept', call: 'other' });
    await dave.call.accept();
    expect(dave.call.phase).toBe('active');
    expect(dave.sent).toEqual(['alice', 'bob', 'carol'].map((to) => ({ to, data: { kind: 'accept', call: 'g1' } })));
    expect(dave.call.participants).toEqual(['alice', 'bob']);
    // Someone accepting later joins too.
    dave.call.onSignal('carol', { kind: 'accept', call: 'g1' });
    expect(dave.call.participants).toEqual(['alice', 'bob', 'carol']);
  });

  it('declining answers only the caller; a call while busy is declined and shown', async () => {
    const bob = person('bob', ['alice', 'carol']);
    bob.call.onSignal('alice', { kind: 'invite', call: 'c1', media: ['audio', 'video'] });
    bob.call.decline();
    expect(bob.sent).toEqual([{ to: 'alice', data: { kind: 'decline', call: 'c1' } }]);
    expect(bob.system).toEqual(['You declined a call from Alice.']);
    expect(bob.call.phase).toBe('idle');

    bob.call.onSignal('alice', { kind: 'invite', call: 'c2', media: ['audio', 'video'] });
    await bob.call.accept();
    bob.call.onSignal('carol', { kind: 'invite', call: 'c3', media: ['audio', 'video'] });
    expect(bob.sent.at(-1)).toEqual({ to: 'carol', data: { kind: 'decline', call: 'c3' } });
    expect(bob.system.at(-1)).toBe('Carol called while you were busy.');
    expect(bob.call.id).toBe('c2');
    expect(bob.call.participants).toEqual(['alice']);
  });

  it('a participant who comes back under a new peer id stays one participant', async () => {
    const alice = person('alice', ['bob', 'carol']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.call.onSignal('bob-new', { kind: 'accept', call }); // the new session's id answered first
    alice.call.peerRenamed('bob', 'bob-new');
    expect(alice.call.participants).toEqual(['bob-new']);
  });

  it('ending a group call stops the ringing of those who have not answered', async () => {
    const alice = person('alice', ['bob', 'carol', 'dave']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.sent.length = 0;
    alice.call.hangup();
    expect(alice.sent).toEqual([
      { to: 'bob', data: { kind: 'hangup', call } },
      { to: 'carol', data: { kind: 'cancel', call } },
      { to: 'dave', data: { kind: 'cancel', call } },
    ]);

    // The same when the last participant hangs up.
    await alice.call.start();
    const next = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call: next });
    alice.call.onSignal('dave', { kind: 'decline', call: next });
    alice.sent.length = 0;
    alice.call.onSignal('bob', { kind: 'hangup', call: next });
    expect(alice.call.phase).toBe('idle');
    expect(alice.sent).toEqual([{ to: 'carol', data: { kind: 'cancel', call: next } }]);
  });

  it('in a three-way glare the dropped call stops ringing the third person', async () => {
    const bob = person('bob', ['alice', 'carol']);
    await bob.call.start();
    const dropped = bob.call.id ?? '';
    const winner = '00000000-0000-7000-8000-000000000000'; // smaller than any real id
    bob.sent.length = 0;
    bob.call.onSignal('alice', { kind: 'invite', call: winner, media: ['audio', 'video'] });
    expect(bob.call.id).toBe(winner);
    expect(bob.sent).toEqual([
      { to: 'carol', data: { kind: 'cancel', call: dropped } },
      { to: 'alice', data: { kind: 'accept', call: winner } },
      { to: 'carol', data: { kind: 'accept', call: winner } },
    ]);
    // Leaving later does not cancel Alice's call for Carol, who may still be ringing for it.
    bob.sent.length = 0;
    bob.call.hangup();
    expect(bob.sent).toEqual([{ to: 'alice', data: { kind: 'hangup', call: winner } }]);
  });
});
