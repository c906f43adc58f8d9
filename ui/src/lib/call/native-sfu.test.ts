// The app's side of an SFU call (native-sfu.ts) as the window drives it: keys to and from the app in the order
// they were given (a key must not overtake the join that needs it), a person's keys following their new peer
// id, joining with the place the server gave, and the videoroom's state read every POLL_MS: a person's first
// decoded picture is said once per reading, a lost videoroom is left and reported. The app's commands are
// recorded here; the real ones run in src-tauri/tests/app-sfu.mjs.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const calls: Array<[string, Record<string, unknown>]> = [];
let status: { joined: boolean; lost: string | null; peers: Array<{ peer: string; frames_decoded: number; audio_level: number }> } = {
  joined: true,
  lost: null,
  peers: [],
};
vi.mock('../ipc', () => ({
  call: (name: string, args: Record<string, unknown>) => {
    calls.push([name, args]);
    return Promise.resolve(name === 'call_sfu_status' ? status : null);
  },
}));

const { NativeSfuMedia, POLL_MS } = await import('./native-sfu');

const names = () => calls.map(([name]) => name);

describe('NativeSfuMedia', () => {
  beforeEach(() => {
    calls.length = 0;
    status = { joined: true, lost: null, peers: [] };
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('hands keys to the app in order: ours given and replaced, theirs kept and forgotten', async () => {
    const media = new NativeSfuMedia('team', 'c-1', () => undefined);
    media.giveKey('bob');
    media.setPeerKey('bob', 4, new Uint8Array(32).fill(9));
    media.rotateKey(['carol']);
    media.forgetPeer('bob');
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toEqual([
      ['call_sfu_give_key', { room: 'team', call: 'c-1', peers: ['bob'], rotate: false }],
      ['call_sfu_peer_key', { room: 'team', call: 'c-1', peer: 'bob', id: 4, key: new Array(32).fill(9) }],
      ['call_sfu_give_key', { room: 'team', call: 'c-1', peers: ['carol'], rotate: true }],
      ['call_sfu_peer_key', { room: 'team', call: 'c-1', peer: 'bob', id: 0 }],
    ]);
    expect(media.ownKey()).toBeNull();
  });

  it("a person's new peer id gets their last keys", async () => {
    const media = new NativeSfuMedia('team', 'c-1', () => undefined);
    for (const id of [1, 2, 3, 4]) media.setPeerKey('bob', id, new Uint8Array(32).fill(id));
    media.renamePeer('bob', 'bob-2');
    await vi.advanceTimersByTimeAsync(0);
    const moved = calls.slice(4).map(([, args]) => [args.peer, args.id, (args.key as number[] | undefined)?.[0]]);
    expect(moved).toEqual([
      ['bob', 0, undefined],
      ['bob-2', 2, 2],
      ['bob-2', 3, 3],
      ['bob-2', 4, 4],
    ]);
  });

  it("joins with the server's place, says a person's first pictures, and reports a lost videoroom once", async () => {
    const opened: string[] = [];
    const lost: string[] = [];
    const media = new NativeSfuMedia('team', 'c-1', (peer) => opened.push(peer));
    media.giveKey('bob');
    const room = await media.join({ url: 'ws://janus', token: 't', janusRoom: 7 }, 'alice', null, [{ urls: ['stun:s'] }], {
      streams: () => undefined,
      lost: (reason) => lost.push(reason),
    });
    expect(calls[1]).toEqual([
      'call_sfu_join',
      { room: 'team', call: 'c-1', me: 'alice', url: 'ws://janus', token: 't', janus_room: 7, ice_servers: [{ urls: ['stun:s'] }] },
    ]);
    // The camera opened after the call joined: the app publishes it now.
    await room.ensurePublished({} as MediaStream);
    expect(calls[2]).toEqual(['call_sfu_publish', { room: 'team', call: 'c-1' }]);
    status.peers = [{ peer: 'bob', frames_decoded: 0, audio_level: 0.2 }, { peer: 'carol', frames_decoded: 12, audio_level: 0 }];
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(opened).toEqual(['carol']);
    expect(await room.audioLevels()).toEqual([{ who: 'bob', level: 0.2 }, { who: 'carol', level: 0 }]);
    status.lost = 'the media server hung up';
    await vi.advanceTimersByTimeAsync(POLL_MS * 3);
    expect(lost).toEqual(['the media server hung up']);
    expect(calls.filter(([name]) => name === 'call_sfu_leave')).toEqual([['call_sfu_leave', { room: 'team', call: 'c-1', end: false }]]);
    media.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.at(-1)).toEqual(['call_sfu_leave', { room: 'team', call: 'c-1', end: true }]);
    expect(names().filter((n) => n === 'call_sfu_status')).toHaveLength(2);
  });
});
