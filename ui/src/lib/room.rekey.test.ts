// Re-keying a peer link on a `peer-id` message: only a link whose old id the server
// no longer lists may move to an id that the server lists and that has no link of its own, exactly as the
// app's native links do (core/src/links). PeerLink is replaced by a fake that records what is sent on it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerFrame, SignalData } from './protocol.gen';
import type { PeerLinkEvents } from './call/peer';
import { peerIdText } from './chat/message';
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
  return { room, server, linked, chatTo };
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
    const { room, server, linked, chatTo } = enter();
    const bob = linked('p-bob');
    bob.events.channelMessage(peerIdText('p-bob2'));
    expect(room.presence.map((p) => p.peer)).toEqual(['p-bob']); // still listed: nothing moves yet
    server({ type: 'joined', peers: [{ peer: 'p-bob2', name: 'bob' }] });
    expect(room.presence.map((p) => p.peer)).toEqual(['p-bob2']);
    room.chat.send('hi');
    expect(chatTo(bob)).toEqual(['hi']);
    expect(fakes.links.length).toBe(1);
  });

  it('peer-left of the old id completes a claim to a listed new id instead of closing the link', () => {
    const { room, server, linked } = enter();
    const carol = linked('p-carol');
    carol.events.channelMessage(peerIdText('p-carol2'));
    server({ type: 'peer-joined', peer: 'p-carol2', name: 'carol' });
    server({ type: 'peer-left', peer: 'p-carol' });
    expect(carol.closed).toBe(false);
    expect(room.presence.map((p) => p.peer)).toEqual(['p-carol2']);
  });
});
