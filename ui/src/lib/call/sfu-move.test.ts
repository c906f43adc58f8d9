// Moving a call from the mesh to the SFU (call.svelte.ts with the server's mesh size): who asks to be placed
// and when, who never gets mesh media, when the mesh media with a person stops, keys that overtake an
// accept, and a server without a media server for the call. The SFU side (sfu-call.svelte.ts: Janus,
// encryption) is a fake that records what the call asks of it; peer links are fakes, signals go through an
// in-memory relay between three people.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../protocol.gen';
import { Call } from './call.svelte';
import { sfuKeyText } from './e2ee';
import type { LocalMedia } from './media';
import type { PeerLink } from './peer';
import type { SfuCall, SfuLinks } from './sfu-call.svelte';

function fakeStream(): MediaStream {
  const tracks = ['audio', 'video'].map((kind) => ({ kind, enabled: true, stop() {}, addEventListener() {} }));
  return { getTracks: () => tracks, getAudioTracks: () => tracks.slice(0, 1), getVideoTracks: () => tracks.slice(1) } as unknown as MediaStream;
}

class FakeLink {
  live: MediaStream | null = null;
  prepareLocalMedia() {}
  setLocalMedia(stream: MediaStream) {
    this.live = stream;
  }
  clearLocalMedia() {
    this.live = null;
  }
  shareVideo() {}
  videoSender() {
    return undefined;
  }
}

/** What the call asked of its SFU side. */
class FakeSfu {
  streams: Record<string, MediaStream> = {};
  lostNotice: string | null = null;
  ignoreKeys = false;
  closed = false;
  keys: Array<[string, number]> = [];
  added: string[] = [];
  left: string[] = [];
  constructor(readonly links: SfuLinks) {
    links.join('placed');
  }
  placed() {}
  lost() {}
  unavailable() {
    return false;
  }
  participantAdded(peer: string) {
    this.added.push(peer);
  }
  participantLeft(peer: string) {
    this.left.push(peer);
  }
  keyFrom(peer: string, id: number) {
    this.keys.push([peer, id]);
  }
  useTracks() {}
  published: MediaStream[] = [];
  useStream(stream: MediaStream) {
    this.published.push(stream);
  }
  askAgain() {}
  peerRenamed() {}
  close() {
    this.closed = true;
  }
}

interface Person {
  call: Call;
  links: Map<string, FakeLink>;
  sfu: FakeSfu[];
  joins: number;
  system: string[];
}

const everyone = ['alice', 'bob', 'carol'];

/**
 * Alice, Bob and Carol in one room, on a server whose calls move to the SFU above `meshSize` people.
 * `cameras`: each camera opens when the test resolves it (else at once).
 */
function room(meshSize: number, cameras?: Array<() => void>): Record<string, Person> {
  const people: Record<string, Person> = {};
  for (const name of everyone) {
    const links = new Map<string, FakeLink>();
    const person: Person = { call: undefined as unknown as Call, links, sfu: [], joins: 0, system: [] };
    person.call = new Call(
      {
        peers: () => everyone.filter((p) => p !== name),
        nameOf: (p) => p,
        signal: (to: string, data: SignalData) => queueMicrotask(() => people[to]?.call.onSignal(name, data)),
        link: (p) => {
          if (!links.has(p)) links.set(p, new FakeLink());
          return links.get(p) as unknown as PeerLink;
        },
        system: (text) => person.system.push(text),
        sfu: { me: () => name, iceServers: () => [], media: () => { throw new Error('the fake SFU side makes no media'); }, join: () => (person.joins += 1), leave: () => undefined, trace: () => undefined },
      },
      () => new Promise<LocalMedia>((resolve) => {
        const open = () => resolve({ stream: fakeStream(), notice: null });
        if (cameras) cameras.push(open);
        else open();
      }),
      async (): Promise<LocalMedia> => ({ stream: null, notice: null }),
      (_call, links) => {
        const sfu = new FakeSfu(links);
        person.sfu.push(sfu);
        return sfu as unknown as SfuCall;
      },
    );
    person.call.meshSize = meshSize;
    people[name] = person;
  }
  return people;
}

const flush = () => vi.advanceTimersByTimeAsync(0);

/** Alice calls, Bob accepts (a mesh of two); `carolToo`: then Carol (the call outgrows a mesh of 2). */
async function aliceCalls(people: Record<string, Person>, carolToo: boolean): Promise<void> {
  await people.alice!.call.start();
  await flush();
  await people.bob!.call.accept();
  await flush();
  if (!carolToo) return;
  await people.carol!.call.accept();
  await flush();
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a call that outgrows the mesh', () => {
  it('moves everyone to the SFU when the third person accepts; she never gets mesh media', async () => {
    const people = room(2);
    const { alice, bob, carol } = people;
    await aliceCalls(people, false);
    // Two people: a mesh.
    expect(alice!.links.get('bob')?.live).toBe(alice!.call.localStream);
    expect([alice!.joins, bob!.joins]).toEqual([0, 0]);

    await carol!.call.accept();
    await flush();
    for (const p of [alice!, bob!, carol!]) {
      expect(p.call.participants).toHaveLength(2);
      expect(p.sfu).toHaveLength(1);
      expect(p.joins).toBe(1);
    }
    expect(carol!.links.get('alice')?.live ?? null).toBeNull();
    expect(carol!.links.get('bob')?.live ?? null).toBeNull();
    expect(alice!.links.get('carol')?.live ?? null).toBeNull();
    // Alice and Bob keep their mesh media until each other's SFU media opens.
    expect(alice!.links.get('bob')?.live).not.toBeNull();
    expect(alice!.call.sfuStream('bob')).toBeNull();
    const bobThroughSfu = fakeStream();
    alice!.sfu[0]!.streams = { bob: bobThroughSfu };
    alice!.sfu[0]!.links.through('bob');
    expect(alice!.links.get('bob')?.live ?? null).toBeNull();
    expect(alice!.call.sfuStream('bob')).toBe(bobThroughSfu);
  });

  it('publishes on the SFU a camera that opens after everyone accepted at once', async () => {
    const cameras: Array<() => void> = [];
    const { alice, bob, carol } = room(2, cameras);
    void alice!.call.start();
    await flush();
    void bob!.call.accept();
    void carol!.call.accept();
    await flush();
    const [aliceCamera, ...theirs] = cameras.splice(0);
    for (const open of theirs) open();
    await flush();
    // Alice's camera is still starting when the call moves.
    expect(alice!.sfu).toHaveLength(1);
    expect(alice!.call.localStream).toBeNull();
    aliceCamera!();
    await flush();
    expect(alice!.sfu[0]!.published).toEqual([alice!.call.localStream]);
    expect(alice!.links.get('bob')?.live ?? null).toBeNull();
  });

  it('takes a key that came over the peer link before its sender\'s accept, once they are in', async () => {
    const people = room(2);
    const { alice, carol } = people;
    await aliceCalls(people, false);
    // Carol's key overtakes her accept (the accept goes through the server).
    expect(alice!.call.sfuKey('carol', sfuKeyText(alice!.call.id ?? '', 4, new Uint8Array(32)))).toBe(true);
    // A key for another call is no chat either, and counts for nothing.
    expect(alice!.call.sfuKey('carol', sfuKeyText('another-call', 9, new Uint8Array(32)))).toBe(true);
    await carol!.call.accept();
    await flush();
    expect(alice!.sfu[0]!.keys).toEqual([['carol', 4]]);
  });

  it('a key from someone who leaves goes with them; a hang-up is told to the SFU side', async () => {
    const people = room(2);
    const { alice, carol } = people;
    await aliceCalls(people, true);
    carol!.call.hangup();
    await flush();
    expect(alice!.sfu[0]!.left).toEqual(['carol']);
    expect(alice!.call.phase).toBe('active');
    expect(carol!.sfu[0]!.closed).toBe(true);
  });

  it('stays a mesh, with a notice, when the server has no media server for it', async () => {
    const people = room(2);
    const { alice, carol } = people;
    await aliceCalls(people, true);
    alice!.call.sfuUnavailable('no media server answers');
    expect(alice!.call.sfu).toBeNull();
    expect(alice!.call.phase).toBe('active');
    expect(alice!.call.notice).toBe('The call stays peer to peer: no media server answers');
    // It does not try again in this room.
    expect(alice!.call.meshSize).toBeNull();
    // Carol, who started on the SFU, gets Alice's media over the peer link now.
    expect(alice!.links.get('carol')?.live).toBe(alice!.call.localStream);
  });
});
