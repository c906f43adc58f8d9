// Which rooms give their calls the SFU (room.svelte.ts): the app's native engine does (its media and keys in
// the app), a page does when it can seal its frames, and one that cannot keeps its calls a mesh of up to 6
// rather than send Janus what it could read. A call's capacity says which: 16 through the SFU, 6 in a mesh.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ServerFrame } from './protocol.gen';
import { Room } from './room.svelte';
import { FakeTransport } from './transport/testing';

vi.mock('./ipc', () => ({
  call: async (name: string) => {
    throw { kind: 'unavailable', message: `no ${name}` };
  },
  on: async () => () => undefined,
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));

vi.mock('./engine/native-links', () => ({
  FallbackLinks: class {
    isOpen() {
      return false;
    }
    send() {
      return false;
    }
    close() {}
  },
}));

const welcome = { type: 'welcome', seq: 1, peer: 'p-ann', session: 's', resumed: false, heartbeat_ms: 1000, ice_servers: [], sfu: { mesh_size: 2 } } as unknown as ServerFrame;

function roomWith(fallback: boolean): Room {
  const transport = new FakeTransport();
  const room = new Room('team', 'Ann', transport, { fallback });
  transport.frames.emit(welcome);
  return room;
}

describe('calls through the SFU, by where the room runs', () => {
  afterEach(() => vi.unstubAllGlobals());

  it("the app's native engine takes its calls to the SFU", () => {
    expect(roomWith(true).call.cap).toBe(16);
  });

  it('a page that can seal its frames does', () => {
    vi.stubGlobal('RTCRtpScriptTransform', class {});
    expect(roomWith(false).call.cap).toBe(16);
  });

  it('a page that cannot seal its frames keeps its calls a mesh', () => {
    expect(roomWith(false).call.cap).toBe(6);
  });
});
