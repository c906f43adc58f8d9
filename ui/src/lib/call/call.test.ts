// The call state machine as people see it: both calling at once ends in one call, unanswered rings end as
// "No answer" / "Missed call" after 30 s, a group call (mesh of up to 6) keeps track of who accepted,
// declined and hung up, someone in the room joins a call in progress, call control reaches only the peers
// it concerns (nobody else gets our camera), and screen sharing swaps the video sent. Peer links, the camera
// and the screen are fakes; signals go through an in-memory relay.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../protocol.gen';
import { Call, EARLY_ACCEPT_MS, MAX_CALL_PEOPLE, RING_TIMEOUT_MS } from './call.svelte';
import type { LocalMedia } from './media';
import type { PeerLink } from './peer';
import { FULL_QUALITY } from './abr';

const NAMES: Record<string, string> = { rusty: 'Rusty', alice: 'Alice', bob: 'Bob', carol: 'Carol', dave: 'Dave', erin: 'Erin', frank: 'Frank', gina: 'Gina', hal: 'Hal' };

interface FakeTrack {
  kind: string;
  enabled: boolean;
  stopped: boolean;
  stop(): void;
  addEventListener(type: string, listener: () => void): void;
  /** What the browser does when the person ends sharing from its own controls. */
  end(): void;
}

function fakeStream(kinds = ['audio', 'video']): MediaStream {
  const tracks = kinds.map((kind): FakeTrack => {
    const onEnded: Array<() => void> = [];
    return {
      kind,
      enabled: true,
      stopped: false,
      stop() {
        this.stopped = true;
      },
      addEventListener: (type, listener) => {
        if (type === 'ended') onEnded.push(listener);
      },
      end() {
        this.stopped = true;
        for (const listener of onEnded) listener();
      },
    };
  });
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
  /** The screen track sent instead of the camera's video. */
  shared: MediaStreamTrack | null = null;
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
    this.shared = null;
    this.cleared += 1;
  }
  shareVideo(track: MediaStreamTrack | null) {
    this.shared = track;
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
  /** Every stream the camera gave, oldest first. */
  opened: MediaStream[];
}

/** One person's call; `deliver` carries their signals to the other person's call (two-sided tests). `room`
 * is who else is in the room (a function when people come and go). */
function person(
  name: string,
  room: string[] | (() => string[]),
  options: { holdMedia?: boolean; deliver?: (to: string, data: SignalData) => void; unlinked?: Set<string> } = {},
): Person {
  const sent: Person['sent'] = [];
  const system: string[] = [];
  const links = new Map<string, FakeLink>();
  const waiting: Array<() => void> = [];
  const opened: MediaStream[] = [];
  const media = () =>
    new Promise<LocalMedia>((resolve) => {
      const open = () => {
        opened.push(fakeStream());
        resolve({ stream: opened.at(-1) ?? null, notice: null });
      };
      if (options.holdMedia) waiting.push(open);
      else open();
    });
  const call = new Call(
    {
      peers: () => (typeof room === 'function' ? room() : room),
      nameOf: (p) => NAMES[p] ?? 'someone',
      signal: (to, data) => {
        sent.push({ to, data });
        options.deliver?.(to, data);
      },
      link: (p) => {
        if (options.unlinked?.has(p)) return undefined; // no peer connection to them yet
        if (!links.has(p)) links.set(p, new FakeLink());
        return links.get(p) as unknown as PeerLink;
      },
      system: (text) => system.push(text),
    },
    media,
    async () => ({ stream: fakeStream(['video']), notice: null }),
  );
  return { name, call, sent, system, links, openCamera: () => waiting.splice(0).forEach((open) => open()), opened };
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

describe('a call declined while the camera starts, and rung again', () => {
  it('the second call sends the camera it opened; the first call\'s camera is switched off', async () => {
    const alice = person('alice', ['bob'], { holdMedia: true });
    void alice.call.start();
    const first = alice.call.id;
    alice.call.onSignal('bob', { kind: 'decline', call: first ?? '' });
    expect(alice.call.phase).toBe('idle');
    void alice.call.start(); // before the first call's camera finished starting
    const second = alice.call.id;
    alice.openCamera(); // both cameras start, the first call's first
    await flush();
    expect(alice.opened.length).toBe(2);
    const [stale, current] = alice.opened as [MediaStream, MediaStream];
    expect(alice.call.localStream).toBe(current);
    expect(stopped(stale)).toBe(true);
    expect(stopped(current)).toBe(false);
    alice.call.onSignal('bob', { kind: 'accept', call: second ?? '' });
    await flush();
    expect(alice.links.get('bob')?.live).toBe(current);
    alice.call.hangup();
    expect(stopped(current)).toBe(true);
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

  it(`an answered call takes at most ${MAX_CALL_PEOPLE} people, however many the invite names`, async () => {
    const others = everyone.filter((p) => p !== 'bob');
    const bob = person('bob', ['alice', ...others]);
    bob.call.onSignal('alice', { kind: 'invite', call: 'g', media: ['audio', 'video'], peers: ['bob', ...others] });
    await bob.call.accept();
    // Accepted toward the caller and the first four others the invite names: six people in all.
    expect(bob.sent.filter((s) => s.data.kind === 'accept').map((s) => s.to)).toEqual(['alice', ...others.slice(0, MAX_CALL_PEOPLE - 2)]);
    for (const p of others) bob.call.onSignal(p, { kind: 'accept', call: 'g' });
    expect(bob.call.participants.length).toBe(MAX_CALL_PEOPLE - 1);
    expect(bob.links.get('hal')?.live ?? null).toBeNull();
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
    const dave = person('dave', ['alice', 'bob', 'carol', 'erin']);
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['bob', 'carol', 'dave'] });
    dave.call.onSignal('bob', { kind: 'accept', call: 'g1' });
    dave.call.onSignal('carol', { kind: 'accept', call: 'other' });
    await dave.call.accept();
    expect(dave.call.phase).toBe('active');
    // The accept goes to the caller and the others the invite names, never to the rest of the room.
    expect(dave.sent.filter((s) => s.data.kind === 'accept')).toEqual(['alice', 'bob', 'carol'].map((to) => ({ to, data: { kind: 'accept', call: 'g1' } })));
    expect(dave.call.participants).toEqual(['alice', 'bob']);
    // Someone accepting later joins too.
    dave.call.onSignal('carol', { kind: 'accept', call: 'g1' });
    expect(dave.call.participants).toEqual(['alice', 'bob', 'carol']);
  });

  it("a co-invitee's accept that arrives before the caller's invite still counts once the invite comes", async () => {
    // Rusty accepts at once; his accept reaches Dave 1 ms before Alice's invite does.
    const dave = person('dave', ['alice', 'bob', 'rusty']);
    dave.call.onSignal('rusty', { kind: 'accept', call: 'g1' });
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['dave', 'rusty'] });
    await dave.call.accept();
    expect(dave.call.participants).toEqual(['alice', 'rusty']);
  });

  it('an early accept counts only from someone the invite names, and only for a short while', async () => {
    const dave = person('dave', ['alice', 'bob', 'carol']);
    // Bob is not named by the invite: his early accept is kept but never counts.
    dave.call.onSignal('bob', { kind: 'accept', call: 'g1' });
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['carol'] });
    await dave.call.accept();
    expect(dave.call.participants).toEqual(['alice']);
    dave.call.hangup();
    // Carol's accept for the next call is too old by the time its invite arrives.
    dave.call.onSignal('carol', { kind: 'accept', call: 'g2' });
    await vi.advanceTimersByTimeAsync(EARLY_ACCEPT_MS);
    dave.call.onSignal('alice', { kind: 'invite', call: 'g2', media: ['audio', 'video'], peers: ['carol'] });
    await dave.call.accept();
    expect(dave.call.participants).toEqual(['alice']);
  });

  it('early accepts are kept only from the room, and a flood keeps only the newest', async () => {
    let room = ['alice', 'rusty'];
    const dave = person('dave', () => room);
    // Mallory accepts from outside the room, then enters it before the invite that names her.
    dave.call.onSignal('mallory', { kind: 'accept', call: 'g0' });
    room = ['alice', 'rusty', 'mallory'];
    dave.call.onSignal('alice', { kind: 'invite', call: 'g0', media: ['audio', 'video'], peers: ['mallory'] });
    await dave.call.accept();
    expect(dave.call.participants).toEqual(['alice']);
    dave.call.hangup();
    // Rusty's accept for g1, then a flood of accepts for other calls pushes it out.
    dave.call.onSignal('rusty', { kind: 'accept', call: 'g1' });
    for (let i = 1; i <= 2 * MAX_CALL_PEOPLE; i++) dave.call.onSignal('rusty', { kind: 'accept', call: `flood-${i}` });
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['rusty'] });
    await dave.call.accept();
    expect(dave.call.participants).toEqual(['alice']);
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
    expect(alice.sent.filter((s) => s.data.kind !== 'left-call')).toEqual([
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
    expect(alice.sent.filter((s) => s.data.kind !== 'left-call')).toEqual([{ to: 'carol', data: { kind: 'cancel', call: next } }]);
  });

  it('in a three-way glare the dropped call stops ringing the third person', async () => {
    const bob = person('bob', ['alice', 'carol']);
    await bob.call.start();
    const dropped = bob.call.id ?? '';
    const winner = '00000000-0000-7000-8000-000000000000'; // smaller than any real id
    bob.sent.length = 0;
    bob.call.onSignal('alice', { kind: 'invite', call: winner, media: ['audio', 'video'] });
    expect(bob.call.id).toBe(winner);
    // Accepted toward Alice alone (her invite names nobody else); Carol hears the call is on.
    expect(bob.sent).toEqual([
      { to: 'carol', data: { kind: 'cancel', call: dropped } },
      { to: 'alice', data: { kind: 'accept', call: winner } },
      { to: 'carol', data: { kind: 'in-call', call: winner } },
    ]);
    // Leaving later does not cancel Alice's call for Carol, who may still be ringing for it.
    bob.sent.length = 0;
    bob.call.hangup();
    expect(bob.sent).toEqual([
      { to: 'alice', data: { kind: 'hangup', call: winner } },
      { to: 'carol', data: { kind: 'left-call', call: winner } },
    ]);
  });
});

describe('call control reaches only the peers it concerns', () => {
  it('the invite names the others it rings, and nobody else', async () => {
    const alice = person('alice', ['bob', 'carol']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    expect(alice.sent).toEqual([
      { to: 'bob', data: { kind: 'invite', call, media: ['audio', 'video'], peers: ['carol'] } },
      { to: 'carol', data: { kind: 'invite', call, media: ['audio', 'video'], peers: ['bob'] } },
    ]);
  });

  it("a callee takes an accept only from the caller's vouched peers: a stranger who knows the call id gets nothing", async () => {
    const dave = person('dave', ['alice', 'bob', 'mallory']);
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['bob'] });
    dave.call.onSignal('mallory', { kind: 'accept', call: 'g1' }); // while ringing
    await dave.call.accept();
    dave.call.onSignal('mallory', { kind: 'accept', call: 'g1' }); // once in the call
    expect(dave.call.participants).toEqual(['alice']);
    expect(dave.links.get('mallory')?.live ?? null).toBeNull();
    expect(dave.sent.filter((s) => s.to === 'mallory' && s.data.kind !== 'in-call')).toEqual([]);
  });

  it('only the caller stops the ringing', () => {
    const dave = person('dave', ['alice', 'mallory']);
    dave.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'] });
    dave.call.onSignal('mallory', { kind: 'cancel', call: 'g1' }); // learnt the id from `in-call`
    expect(dave.call.phase).toBe('incoming');
    dave.call.onSignal('alice', { kind: 'cancel', call: 'g1' });
    expect(dave.call.phase).toBe('idle');
  });

  it('an invite naming someone outside the room, or the callee, vouches for nobody', async () => {
    const bob = person('bob', ['alice', 'carol']);
    bob.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['bob', 'ghost', 'carol'] });
    await bob.call.accept();
    expect(bob.sent.filter((s) => s.data.kind === 'accept').map((s) => s.to)).toEqual(['alice', 'carol']);
    bob.call.onSignal('ghost', { kind: 'accept', call: 'g1' });
    expect(bob.call.participants).toEqual(['alice']);
  });

  it('a co-invitee who declined cannot accept later; the decline reaches the caller and the co-invitees', async () => {
    const carol = person('carol', ['alice', 'bob']);
    carol.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['bob', 'carol'] });
    carol.call.decline();
    expect(carol.sent).toEqual(['alice', 'bob'].map((to) => ({ to, data: { kind: 'decline', call: 'g1' } })));

    const bob = person('bob', ['alice', 'carol']);
    bob.call.onSignal('alice', { kind: 'invite', call: 'g1', media: ['audio', 'video'], peers: ['bob', 'carol'] });
    await bob.call.accept();
    bob.call.onSignal('carol', { kind: 'decline', call: 'g1' });
    bob.call.onSignal('carol', { kind: 'accept', call: 'g1' });
    expect(bob.call.participants).toEqual(['alice']);
    expect(bob.links.get('carol')?.live ?? null).toBeNull();
  });

  it(`a join request is let in only from someone in the room, and never beyond ${MAX_CALL_PEOPLE} people`, async () => {
    const room = ['bob', 'carol', 'dave', 'erin', 'frank', 'gina'];
    const alice = person('alice', room);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.call.onSignal('ghost', { kind: 'join-call', call }); // not in the room
    alice.call.onSignal('carol', { kind: 'join-call', call: 'another call' });
    expect(alice.call.participants).toEqual(['bob']);
    for (const p of ['carol', 'dave', 'erin', 'frank']) alice.call.onSignal(p, { kind: 'join-call', call });
    expect(alice.call.participants).toEqual(['bob', 'carol', 'dave', 'erin', 'frank']);
    expect(alice.system).toContain('Frank joined the call.');
    alice.sent.length = 0;
    alice.call.onSignal('gina', { kind: 'join-call', call }); // the seventh
    expect(alice.sent).toEqual([{ to: 'gina', data: { kind: 'decline', call } }]);
    expect(alice.call.participants).not.toContain('gina');
    expect(alice.links.get('gina')?.live ?? null).toBeNull();
  });
});

/** People in one room whose signals queue until `settle()` delivers them (in order, to whoever is still there). */
function room(...names: string[]) {
  const present = new Set(names);
  const people: Record<string, Person> = {};
  const queue: Array<() => void> = [];
  const add = (name: string) => {
    present.add(name);
    people[name] = person(name, () => [...present].filter((p) => p !== name), {
      deliver: (to, data) => queue.push(() => present.has(to) && people[to]?.call.onSignal(name, data)),
    });
    return people[name];
  };
  for (const name of names) add(name);
  const settle = async () => {
    for (let round = 0; round < 50 && queue.length > 0; round++) {
      while (queue.length > 0) queue.shift()?.();
      await flush();
    }
  };
  /** Someone enters the room: everyone there hears of it (the server's peer-joined). */
  const enter = (name: string) => {
    const newcomer = add(name);
    for (const p of names) at(p).call.peerArrived(name);
    return newcomer;
  };
  const at = (name: string): Person => {
    const p = people[name];
    if (!p) throw new Error(`${name} is not in the room`);
    return p;
  };
  return { at, settle, enter };
}

describe('joining a call in progress', () => {
  async function aliceAndBobInACall() {
    const r = room('alice', 'bob');
    const alice = r.at('alice');
    const bob = r.at('bob');
    await alice.call.start();
    await r.settle();
    await bob.call.accept();
    await r.settle();
    expect(alice.call.participants).toEqual(['bob']);
    return r;
  }

  it('Carol arrives, sees the call and who is in it, joins with one step; everyone in it sees her arrive', async () => {
    const r = await aliceAndBobInACall();
    const alice = r.at('alice');
    const bob = r.at('bob');
    const carol = r.enter('carol');
    await r.settle();
    expect(carol.call.phase).toBe('idle');
    expect(carol.call.callInRoom).toEqual({ id: alice.call.id, peers: ['alice', 'bob'] });

    for (const p of [alice, bob, carol]) p.sent.length = 0;
    await carol.call.join();
    await r.settle();
    expect(carol.call.phase).toBe('active');
    expect(carol.call.participants.sort()).toEqual(['alice', 'bob']);
    expect(alice.call.participants).toEqual(['bob', 'carol']);
    expect(bob.call.participants).toEqual(['alice', 'carol']);
    for (const p of [alice, bob]) {
      expect(p.system).toContain('Carol joined the call.');
      expect(p.links.get('carol')?.live).toBe(p.call.localStream);
    }
    expect(carol.links.get('alice')?.live).toBe(carol.call.localStream);
    // No ringing: nobody was invited, nobody's phone rang again.
    expect([alice, bob, carol].flatMap((p) => kinds(p))).not.toContain('invite');
    expect(carol.call.callInRoom).toBeNull();
  });

  it('someone who hangs up can rejoin; the call disappears from the room when it ends', async () => {
    const r = await aliceAndBobInACall();
    const alice = r.at('alice');
    const bob = r.at('bob');
    const carol = r.enter('carol');
    await r.settle();
    await carol.call.join();
    await r.settle();
    carol.call.hangup();
    await r.settle();
    expect(alice.call.participants).toEqual(['bob']);
    expect(carol.call.callInRoom?.peers.sort()).toEqual(['alice', 'bob']);
    await carol.call.join();
    await r.settle();
    expect(carol.call.participants.sort()).toEqual(['alice', 'bob']);
    carol.call.hangup();
    await r.settle();

    alice.call.hangup();
    await r.settle();
    expect(bob.call.phase).toBe('idle');
    expect(carol.call.callInRoom).toBeNull();
    expect(bob.call.callInRoom).toBeNull();
  });

  it('an invitee still ringing when someone joined connects to them too on accepting', async () => {
    const r = room('alice', 'bob', 'dave');
    const alice = r.at('alice');
    const bob = r.at('bob');
    const dave = r.at('dave');
    await alice.call.start();
    await r.settle();
    await bob.call.accept();
    await r.settle();
    expect(dave.call.phase).toBe('incoming');
    const carol = r.enter('carol');
    await r.settle();
    await carol.call.join();
    await r.settle();
    await dave.call.accept();
    await r.settle();
    expect(dave.call.participants.sort()).toEqual(['alice', 'bob', 'carol']);
    expect(carol.call.participants.sort()).toEqual(['alice', 'bob', 'dave']);
  });

  it('a full call: the join button says so, and a refusal ends the attempt', async () => {
    const carol = person('carol', ['alice', 'bob', 'dave', 'erin', 'frank', 'gina']);
    for (const p of ['alice', 'bob', 'dave', 'erin', 'frank', 'gina']) carol.call.onSignal(p, { kind: 'in-call', call: 'g' });
    await carol.call.join();
    expect(carol.call.phase).toBe('idle');
    expect(carol.call.notice).toBe('This call is full.');
    expect(carol.sent).toEqual([]);

    carol.call.onSignal('gina', { kind: 'left-call', call: 'g' });
    await carol.call.join();
    expect(carol.sent.map((s) => s.to)).toEqual(['alice', 'bob', 'dave', 'erin', 'frank']);
    carol.call.onSignal('alice', { kind: 'accept', call: 'g' });
    carol.call.onSignal('bob', { kind: 'decline', call: 'g' }); // someone else got the last place
    expect(carol.call.phase).toBe('idle');
    expect(carol.call.notice).toBe('This call is full.');
    expect(carol.sent).toContainEqual({ to: 'alice', data: { kind: 'hangup', call: 'g' } });
  });

  it('someone let in before their peer link exists gets our media once it does', async () => {
    const unlinked = new Set(['carol']);
    const alice = person('alice', ['bob', 'carol'], { unlinked });
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    alice.call.onSignal('carol', { kind: 'join-call', call });
    expect(alice.call.participants).toEqual(['bob', 'carol']);
    unlinked.delete('carol');
    alice.call.linkAdded('carol');
    expect(alice.links.get('carol')?.live).toBe(alice.call.localStream);
    alice.call.linkAdded('dave'); // not in the call: nothing
    expect(alice.links.has('dave')).toBe(false);
  });

  it('nobody answering a join request gives up after 30 s', async () => {
    const carol = person('carol', ['alice']);
    carol.call.onSignal('alice', { kind: 'in-call', call: 'g' });
    await carol.call.join();
    await vi.advanceTimersByTimeAsync(RING_TIMEOUT_MS);
    expect(carol.call.phase).toBe('idle');
    expect(carol.call.notice).toBe('Nobody in the call answered.');
  });
});

describe('screen sharing', () => {
  it('sends the screen instead of the camera to everyone in the call, newcomers too, and back', async () => {
    const alice = person('alice', ['bob', 'carol']);
    await alice.call.start();
    const call = alice.call.id ?? '';
    alice.call.onSignal('bob', { kind: 'accept', call });
    await alice.call.toggleScreenShare();
    const screen = alice.call.screenStream?.getVideoTracks()[0] ?? null;
    expect(screen).not.toBeNull();
    expect(alice.links.get('bob')?.shared).toBe(screen);
    alice.call.onSignal('carol', { kind: 'accept', call });
    expect(alice.links.get('carol')?.shared).toBe(screen);

    await alice.call.toggleScreenShare();
    expect(alice.call.screenStream).toBeNull();
    expect((screen as unknown as FakeTrack).stopped).toBe(true);
    expect(alice.links.get('bob')?.shared).toBeNull();
    expect(alice.links.get('carol')?.shared).toBeNull();
    expect(alice.links.get('bob')?.live).toBe(alice.call.localStream); // the camera again
  });

  it("the browser's own stop-sharing control goes back to the camera; hanging up stops sharing", async () => {
    const alice = person('alice', ['bob']);
    await alice.call.start();
    alice.call.onSignal('bob', { kind: 'accept', call: alice.call.id ?? '' });
    await alice.call.toggleScreenShare();
    (alice.call.screenStream?.getVideoTracks()[0] as unknown as FakeTrack).end();
    expect(alice.call.screenStream).toBeNull();
    expect(alice.links.get('bob')?.shared).toBeNull();

    await alice.call.toggleScreenShare();
    const shared = alice.call.screenStream;
    alice.call.hangup();
    expect(alice.call.screenStream).toBeNull();
    expect(stopped(shared)).toBe(true);
  });

  it('is only offered in a call', async () => {
    const alice = person('alice', ['bob']);
    await alice.call.toggleScreenShare();
    expect(alice.call.screenStream).toBeNull();
  });
});

describe('media held outside the page (the app\'s native capture)', () => {
  it('mute, camera off and the end of the call reach its switches; quality comes from the link itself', async () => {
    const switches: string[] = [];
    const control = { setMuted: (m: boolean) => switches.push(`muted ${m}`), setCameraOff: (o: boolean) => switches.push(`camera off ${o}`), stop: () => switches.push('stop') };
    const link = Object.assign(new FakeLink(), {
      measure: async () => ({ rttMs: 7, loss: 0, bitrate: 1000, framesDecoded: 3, localCandidateType: null }),
    });
    const sent: SignalData[] = [];
    const call = new Call(
      { peers: () => ['bob'], nameOf: (p) => NAMES[p] ?? p, signal: (_to, data) => sent.push(data), link: () => link as unknown as PeerLink, system: () => undefined },
      async () => ({ stream: fakeStream([]), notice: null, control }),
    );
    void call.start();
    await flush();
    call.onSignal('bob', { kind: 'accept', call: call.id ?? '' });
    expect(link.live).not.toBeNull();
    call.toggleMic();
    call.toggleCamera();
    expect(switches).toEqual(['muted true', 'camera off true']);
    await vi.advanceTimersByTimeAsync(2100);
    expect(call.quality.bob).toMatchObject({ rttMs: 7, framesDecoded: 3 });
    call.hangup();
    expect(switches.at(-1)).toBe('stop');
    expect(link.cleared).toBe(1);
  });

  it('adaptive bitrate reaches the app\'s encoder through the link: full at first, lower on loss', async () => {
    const applied: number[] = [];
    let loss = 0;
    const link = Object.assign(new FakeLink(), {
      measure: async () => ({ rttMs: 7, loss, bitrate: 1000, framesDecoded: 3, localCandidateType: null }),
      applyLimits: (limits: { maxBitrate: number }) => applied.push(limits.maxBitrate),
    });
    const call = new Call(
      { peers: () => ['bob'], nameOf: (p) => NAMES[p] ?? p, signal: () => undefined, link: () => link as unknown as PeerLink, system: () => undefined },
      async () => ({ stream: fakeStream([]), notice: null, control: { setMuted: () => undefined, setCameraOff: () => undefined, stop: () => undefined } }),
    );
    void call.start();
    await flush();
    call.onSignal('bob', { kind: 'accept', call: call.id ?? '' });
    await vi.advanceTimersByTimeAsync(2100);
    expect(applied).toEqual([FULL_QUALITY.maxBitrate]);
    loss = 0.2;
    await vi.advanceTimersByTimeAsync(2000);
    expect(applied.at(-1)).toBeLessThan(FULL_QUALITY.maxBitrate);
    call.hangup();
  });
});
