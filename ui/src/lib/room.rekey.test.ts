// Re-keying a peer link on a `peer-id` message: only a link whose old id the server
// no longer lists may move to an id that the server lists and that has no link of its own, and only once the
// session holding that id answered our `peer-id-check` (sent through the server) with a `peer-id-proof` over
// that very link — exactly as the app's native links do (core/src/links). PeerLink is replaced by a fake that
// records what is sent on it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerFrame, SignalData } from './protocol.gen';
import type { PeerLinkEvents } from './call/peer';
import { peerIdText } from './chat/message';

const proofText = (nonce: string) => JSON.stringify({ t: 'peer-id-proof', nonce });
import { Room } from './room.svelte';
import { FakeTransport } from './transport/testing';

const fakes = vi.hoisted(() => ({ links: [] as Array<{ events: PeerLinkEvents; sent: string[]; closed: boolean }> }));

vi.mock('./call/peer', () => ({
  PeerLink: class {
    readonly pc = { connectionState: 'connected' };
    readonly sent: string[] = [];
    closed = false;
    constructor(_options: unknown, readonly events: PeerLinkEvents) {
      fakes.links.push(this);
    }
    send(text: string) {
      this.sent.push(text);
      return !this.closed;
    }
    close() {
      this.closed = true;
    }
    async handleSignal() {}
    clearLocalMedia() {}
  },
}));

let seq = 0;
function enter() {
  const transport = new FakeTransport();
  const room = new Room('team', 'Ann', transport);
  room.enter();
  const server = (f: Record<string, unknown>) => transport.frames.emit({ seq: ++seq, room: 'team', ...f } as unknown as ServerFrame);
  server({ type: 'welcome', peer: 'p-ann', session: 's', resumed: false, heartbeat_ms: 1000, ice_servers: [] });
  server({ type: 'joined', peers: [] });
  /** `peer` joins and offers: we get a link to it. */
  const linked = (peer: string) => {
    server({ type: 'peer-joined', peer, name: peer.slice(2) });
    server({ type: 'signal', from: peer, data: { kind: 'offer', sdp: 'x' } satisfies SignalData });
    const link = fakes.links.at(-1);
    if (!link) throw new Error('no link');
    link.events.channelOpen();
    return link;
  };
  const chatTo = (link: { sent: string[] }) => link.sent.map((t) => JSON.parse(t) as { t: string; body?: string }).filter((m) => m.t === 'msg').map((m) => m.body);
  /** The nonces of the `peer-id-check`s we sent to `peer` through the server. */
  const checksTo = (peer: string) =>
    transport.signals.flatMap((s) => (s.to === peer && s.data.kind === 'peer-id-check' ? [s.data.nonce] : []));
  /** The nonces of the `peer-id-proof`s we sent over `link`. */
  const proofsOn = (link: { sent: string[] }) =>
    link.sent.map((t) => JSON.parse(t) as { t: string; nonce?: string }).filter((m) => m.t === 'peer-id-proof').map((m) => m.nonce);
  /** The person behind `link` answers every check `peer` got from us, over `link`. */
  const prove = (link: { events: PeerLinkEvents }, peer: string) => {
    for (const nonce of checksTo(peer)) link.events.channelMessage(proofText(nonce));
  };
  /** The session `peer` challenges us through the server. */
  const challenged = (peer: string, nonce: string) =>
    server({ type: 'signal', from: peer, data: { kind: 'peer-id-check', nonce } satisfies SignalData });
  return { room, server, linked, chatTo, checksTo, proofsOn, prove, challenged };
}

beforeEach(() => {
  fakes.links.length = 0;
  vi.stubGlobal('RTCPeerConnection', class {});
});
afterEach(() => vi.unstubAllGlobals());

describe('re-keying on peer-id', () => {
  it('a member cannot take over another member: the victim keeps its link and its messages', () => {
    const { room, server, linked, chatTo } = enter();
    const mallory = linked('p-mallory');
    const victim = linked('p-victim');
    mallory.events.channelMessage(peerIdText('p-victim'));
    expect(victim.closed).toBe(false);
    room.chat.send('for the victim');
    expect(chatTo(victim)).toEqual(['for the victim']);
    // Even when mallory's id is no longer listed, a linked id is not taken over.
    server({ type: 'joined', peers: [{ peer: 'p-victim', name: 'victim' }] });
    room.chat.send('again');
    expect(victim.closed).toBe(false);
    expect([...new Set(chatTo(victim))]).toEqual(['for the victim', 'again']);
    expect(room.presence.map((p) => p.peer)).toContain('p-victim');
  });

  it('after a server restart the claim waits for the server list, then the same link carries on', () => {
    const { room, server, linked, chatTo, checksTo, prove } = enter();
    const bob = linked('p-bob');
    bob.events.channelMessage(peerIdText('p-bob2'));
    expect(room.presence.map((p) => p.peer)).toEqual(['p-bob']); // still listed: nothing moves yet
    expect(checksTo('p-bob2')).toEqual([]);
    server({ type: 'joined', peers: [{ peer: 'p-bob2', name: 'bob' }] });
    // The claim holds: one check to the new id through the server, and nothing moves before the proof.
    expect(checksTo('p-bob2')).toHaveLength(1);
    expect(checksTo('p-bob2')[0]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(room.presence).toMatchObject([{ peer: 'p-bob2', link: 'none' }]);
    prove(bob, 'p-bob2');
    expect(room.presence).toMatchObject([{ peer: 'p-bob2', link: 'connected' }]);
    room.chat.send('hi');
    expect(chatTo(bob)).toEqual(['hi']);
    expect(fakes.links.length).toBe(1);
  });

  it('peer-left of the old id completes a claim to a listed new id instead of closing the link', () => {
    const { room, server, linked, checksTo, prove } = enter();
    const carol = linked('p-carol');
    carol.events.channelMessage(peerIdText('p-carol2'));
    server({ type: 'peer-joined', peer: 'p-carol2', name: 'carol' });
    server({ type: 'peer-left', peer: 'p-carol' });
    expect(carol.closed).toBe(false); // waiting for the proof
    expect(checksTo('p-carol2')).toHaveLength(1);
    prove(carol, 'p-carol2');
    expect(carol.closed).toBe(false);
    expect(room.presence.map((p) => p.peer)).toEqual(['p-carol2']);
  });

  it('race 1: a member who claims a newcomer\'s id and leaves does not get the newcomer\'s link or chat', () => {
    const { room, server, linked, chatTo, checksTo } = enter();
    const mallory = linked('p-mallory');
    server({ type: 'peer-joined', peer: 'p-x', name: 'x' }); // listed, not linked yet (its offer is on the way)
    mallory.events.channelMessage(peerIdText('p-x'));
    server({ type: 'peer-left', peer: 'p-mallory' });
    // The check goes to X's session, which never answers over mallory's link; mallory's guesses do nothing.
    mallory.events.channelMessage(proofText('AAAAAAAAAAAAAAAAAAAAAA'));
    mallory.events.channelMessage(proofText(''));
    room.chat.send('for x');
    expect(chatTo(mallory)).toEqual([]);
    expect(checksTo('p-x')).toHaveLength(1);
    expect(room.presence.find((p) => p.peer === 'p-x')?.name).toBe('x');
    // X's own link comes and gets X's chat.
    const x = linked('p-x');
    expect(x).not.toBe(mallory);
    room.chat.send('again');
    expect(chatTo(x)).toContain('again');
    expect(chatTo(mallory)).toEqual([]);
  });

  it('race 3: two links claim the same new id; only the one the new session answers over is re-keyed', () => {
    const { room, server, linked, chatTo, checksTo, prove } = enter();
    const mallory = linked('p-mallory');
    const bob = linked('p-bob');
    mallory.events.channelMessage(peerIdText('p-bob2')); // first, and her old id goes too
    bob.events.channelMessage(peerIdText('p-bob2'));
    server({ type: 'joined', peers: [{ peer: 'p-bob2', name: 'bob' }] });
    room.chat.send('for bob');
    expect(room.presence).toMatchObject([{ peer: 'p-bob2', link: 'none' }]);
    expect(chatTo(mallory)).toEqual([]);
    expect(checksTo('p-bob2')).toHaveLength(2); // one per claim
    prove(bob, 'p-bob2'); // bob's session answers both checks, over its own link
    expect(room.presence).toMatchObject([{ peer: 'p-bob2', link: 'connected' }]);
    expect(chatTo(bob)).toEqual(['for bob']);
    expect(chatTo(mallory)).toEqual([]);
    prove(mallory, 'p-bob2'); // too late, and over the wrong link anyway
    room.chat.send('again');
    expect(chatTo(mallory)).toEqual([]);
  });

  it('a proof for one link\'s claim does not re-key another link', () => {
    const { room, server, linked, checksTo, prove } = enter();
    const mallory = linked('p-mallory');
    server({ type: 'peer-joined', peer: 'p-x', name: 'x' });
    mallory.events.channelMessage(peerIdText('p-x'));
    server({ type: 'peer-left', peer: 'p-mallory' });
    const bob = linked('p-bob');
    prove(bob, 'p-x');
    expect(checksTo('p-x')).toHaveLength(1);
    expect(room.presence.map((p) => p.peer).sort()).toEqual(['p-bob', 'p-x']);
    expect(room.presence.find((p) => p.peer === 'p-x')?.link).toBe('none');
  });

  it('both sides have new ids: each answers the other\'s check over the link that claims the checker\'s id', () => {
    const { room, server, linked, chatTo, checksTo, proofsOn, prove, challenged } = enter();
    const bob = linked('p-bob');
    const dave = linked('p-dave');
    // Server restart: we get a new id and announce it on every link; bob announces his.
    server({ type: 'welcome', peer: 'p-ann2', session: 's2', resumed: false, heartbeat_ms: 1000, ice_servers: [] });
    expect(bob.sent.map((t) => JSON.parse(t) as { t: string }).map((m) => m.t)).toContain('peer-id');
    bob.events.channelMessage(peerIdText('p-bob2'));
    server({ type: 'joined', peers: [{ peer: 'p-bob2', name: 'bob' }, { peer: 'p-dave', name: 'dave' }] });
    expect(checksTo('p-bob2')).toHaveLength(1);
    // Bob's session checks our new id: the answer goes over bob's link (it claims p-bob2), nowhere else.
    challenged('p-bob2', 'bobs-nonce');
    expect(proofsOn(bob)).toEqual(['bobs-nonce']);
    expect(proofsOn(dave)).toEqual([]);
    prove(bob, 'p-bob2');
    expect(room.presence.map((p) => p.peer).sort()).toEqual(['p-bob2', 'p-dave']);
    room.chat.send('hi');
    expect(chatTo(bob)).toEqual(['hi']);
    // A check from a linked id is answered over that link only.
    challenged('p-dave', 'daves-nonce');
    expect(proofsOn(dave)).toEqual(['daves-nonce']);
    expect(proofsOn(bob)).toEqual(['bobs-nonce']);
  });

  it('a check is never answered over a link of someone still listed, or of a stranger', () => {
    const { server, linked, proofsOn, challenged } = enter();
    const mallory = linked('p-mallory');
    server({ type: 'peer-joined', peer: 'p-carol2', name: 'carol' });
    mallory.events.channelMessage(peerIdText('p-carol2')); // mallory is still listed
    challenged('p-carol2', 'carols-nonce');
    challenged('p-nobody', 'n');
    expect(proofsOn(mallory)).toEqual([]);
  });
});
