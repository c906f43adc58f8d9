// The SFU side of a call (sfu-call.svelte.ts), the same state machine whichever media carries it: keys given
// to every participant and replaced when one leaves, joining where the server placed the call, a person's
// first opened frame stopping the mesh with them, Janus lost (asked again twice, then the call ends with a
// notice), a new session's place, the active speaker. The media is a fake that records what it is asked
// (the page's is tested in tests/e2e/sfu*.test.mjs, the app's in native-sfu.test.ts and app-sfu.mjs).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SfuCall, type SfuLinks } from './sfu-call.svelte';
import type { SfuMedia, SfuPlace, SfuRoom, VideoRoomEvents } from './sfu-media';

class FakeRoom implements SfuRoom {
  closed = false;
  levels: Array<{ who: string; level: number }> = [];
  ensurePublished() {
    return Promise.resolve();
  }
  replaceTrack() {}
  setLayer() {
    return true;
  }
  audioLevels() {
    return Promise.resolve(this.levels);
  }
  connections() {
    return { publisher: null, subscriber: null };
  }
  close() {
    this.closed = true;
  }
}

class FakeMedia implements SfuMedia {
  given: string[] = [];
  rotations: string[][] = [];
  keys: Array<[string, number]> = [];
  forgotten: string[] = [];
  joins: Array<{ place: SfuPlace; me: string }> = [];
  rooms: FakeRoom[] = [];
  events: VideoRoomEvents | null = null;
  closed = false;
  constructor(readonly opened: (peer: string) => void) {}
  giveKey(peer: string) {
    this.given.push(peer);
  }
  rotateKey(stay: string[]) {
    this.rotations.push(stay);
  }
  setPeerKey(peer: string, id: number) {
    this.keys.push([peer, id]);
  }
  forgetPeer(peer: string) {
    this.forgotten.push(peer);
  }
  renamePeer() {}
  ownKey() {
    return null;
  }
  async join(place: SfuPlace, me: string, _stream: MediaStream | null, _ice: unknown, events: VideoRoomEvents) {
    this.joins.push({ place, me });
    this.events = events;
    const room = new FakeRoom();
    this.rooms.push(room);
    return room;
  }
  close() {
    this.closed = true;
  }
}

const place = (token: string): SfuPlace => ({ url: 'ws://janus', token, janusRoom: 7 });

function setup(participants = ['bob', 'carol']) {
  const asked: string[] = [];
  const through: string[] = [];
  const ended: string[] = [];
  let media: FakeMedia | null = null;
  const links: SfuLinks = {
    me: () => 'alice',
    iceServers: () => [],
    media: (_call, opened) => (media = new FakeMedia(opened)),
    join: (call) => asked.push(`join ${call}`),
    leave: (call) => asked.push(`leave ${call}`),
    through: (peer) => through.push(peer),
    ended: (notice) => ended.push(notice),
    trace: () => undefined,
  };
  const list = [...participants];
  const sfu = new SfuCall('call-1', links, () => list, () => null);
  return { sfu, asked, through, ended, list, media: () => media as unknown as FakeMedia };
}

describe('SfuCall', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('gives every participant our key at once and asks where to go', () => {
    const { media, asked } = setup();
    expect(media().given).toEqual(['bob', 'carol']);
    expect(asked).toEqual(['join call-1']);
  });

  it('joins where it was placed as our peer id; a first opened frame stops the mesh with that person once', async () => {
    const { sfu, media, through } = setup();
    await sfu.placed(place('t1'));
    expect(media().joins).toEqual([{ place: place('t1'), me: 'alice' }]);
    media().opened('bob');
    media().opened('bob');
    expect(through).toEqual(['bob']);
    // The same place again (an answer to asking again) changes nothing.
    await sfu.placed(place('t1'));
    expect(media().joins).toHaveLength(1);
  });

  it('someone leaving: their keys go and ours is replaced for those who stay', () => {
    const { sfu, media, list } = setup();
    list.splice(list.indexOf('bob'), 1);
    sfu.participantLeft('bob');
    expect(media().forgotten).toEqual(['bob']);
    expect(media().rotations).toEqual([['carol']]);
    sfu.participantAdded('dave');
    expect(media().given).toEqual(['bob', 'carol', 'dave']);
  });

  it("takes keys only from the call's participants, and none with the test hook on", () => {
    const { sfu, media } = setup();
    sfu.keyFrom('bob', 3, new Uint8Array(32));
    sfu.keyFrom('mallory', 1, new Uint8Array(32));
    sfu.ignoreKeys = true;
    sfu.keyFrom('carol', 2, new Uint8Array(32));
    expect(media().keys).toEqual([['bob', 3]]);
  });

  it('Janus lost: asks to be placed again twice, then ends the call with a notice', async () => {
    const { sfu, media, asked, ended } = setup();
    await sfu.placed(place('t1'));
    media().events?.lost('it hung up');
    expect(media().rooms[0]!.closed).toBe(true);
    expect(asked).toEqual(['join call-1', 'join call-1']);
    await sfu.placed(place('t2'));
    media().events?.lost('it hung up');
    await sfu.placed(place('t3'));
    expect(ended).toEqual([]);
    media().events?.lost('it hung up');
    expect(asked).toEqual(['join call-1', 'join call-1', 'join call-1', 'leave call-1']);
    expect(ended).toEqual(["The call's media server was lost (it hung up): the call ended."]);
    expect(media().closed).toBe(true);
  });

  it("a new session's place: joins again and gives our key again (the others know our new id)", async () => {
    const { sfu, media } = setup();
    await sfu.placed(place('t1'));
    sfu.askAgain();
    await sfu.placed(place('t-new'));
    expect(media().joins.map((j) => j.place.token)).toEqual(['t1', 't-new']);
    expect(media().rooms[0]!.closed).toBe(true);
    expect(media().given).toEqual(['bob', 'carol', 'bob', 'carol']);
  });

  it('the stage goes to whoever is loudest twice in a row', async () => {
    const { sfu, media } = setup();
    await sfu.placed(place('t1'));
    media().rooms[0]!.levels = [{ who: 'bob', level: 0.01 }, { who: 'carol', level: 0.3 }, { who: 'me', level: 0.1 }];
    await vi.advanceTimersByTimeAsync(500);
    expect(sfu.speaker).toBeNull();
    await vi.advanceTimersByTimeAsync(500);
    expect(sfu.speaker).toBe('carol');
    sfu.close();
  });
});
