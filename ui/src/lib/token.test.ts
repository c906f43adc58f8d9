// @vitest-environment jsdom
// Protects the session's invitation: it survives a reload (sessionStorage), is renewed before it expires
// when the operator configured a renewal path (same origin only, the current token as bearer), and the
// browser transport presents it in every hello, resumes with a renewed one when the server ends the
// session at `exp`, and stops (no reconnect loop) when the refusal is final.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenKeeper } from './token';
import { BrowserTransport } from './transport/browser';
import type { ServerFrame } from './protocol.gen';

function jwt(claims: object): string {
  const part = (o: object) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${part({ alg: 'HS256' })}.${part(claims)}.c2ln`;
}

function memoryStore() {
  const map = new Map<string, string>();
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), removeItem: (k: string) => void map.delete(k) };
}

describe('TokenKeeper', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps the token for the session', () => {
    const store = memoryStore();
    new TokenKeeper(store).set('a.b.c', '/token');
    const again = new TokenKeeper(store);
    expect(again.current()).toBe('a.b.c');
    expect(again.renewal()).toBe('/token');
    again.clear();
    expect(new TokenKeeper(store).current()).toBeUndefined();
  });

  it('renews 60 s before exp with the current token as bearer, and uses the fresh one', async () => {
    const now = Date.now();
    const old = jwt({ sub: 'a', exp: Math.floor(now / 1000) + 600 });
    const fresh = jwt({ sub: 'a', exp: Math.floor(now / 1000) + 1200 });
    const fetcher = vi.fn(async () => new Response(JSON.stringify({ token: fresh })));
    const keeper = new TokenKeeper(memoryStore(), fetcher as unknown as typeof fetch);
    keeper.set(old, '/token');
    const delay = keeper.renewDelay() ?? 0;
    expect(delay).toBeGreaterThan(535_000);
    expect(delay).toBeLessThanOrEqual(540_000);
    await vi.advanceTimersByTimeAsync(delay - 1000);
    expect(fetcher).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetcher).toHaveBeenCalledOnce();
    const [url, init] = fetcher.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe(`${location.origin}/token`);
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>).Authorization).toBe(`Bearer ${old}`);
    expect(keeper.current()).toBe(fresh);
  });

  it('renews nothing without a renewal path, and never sends the token to another origin', async () => {
    const fetcher = vi.fn();
    const keeper = new TokenKeeper(memoryStore(), fetcher as unknown as typeof fetch);
    keeper.set(jwt({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 60 }));
    expect(keeper.renewDelay()).toBeNull();
    expect(await keeper.renew()).toBeUndefined();
    keeper.set(keeper.current() ?? '', '//evil.example/token');
    expect(await keeper.renew()).toBeUndefined();
    expect(fetcher).not.toHaveBeenCalled();
  });
});

/** A WebSocket the test drives: records what the page sent, and plays the server. */
class FakeSocket {
  static all: FakeSocket[] = [];
  static readonly OPEN = 1;
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor() {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.serverClose();
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  frame(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  serverClose() {
    this.readyState = 3;
    this.onclose?.();
  }
}

const welcome = (resumed: boolean, seq = 1) => ({ type: 'welcome', seq, peer: 'p1', session: 's1', resumed, resume_token: 'rt', heartbeat_ms: 10000, ice_servers: [] });

describe('BrowserTransport and tokens', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.stubGlobal('WebSocket', FakeSocket);
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('presents the token, and stops after a final refusal instead of reconnecting', async () => {
    const transport = new BrowserTransport('ws://test/ws');
    const frames: ServerFrame[] = [];
    const states: string[] = [];
    transport.onFrame((f) => frames.push(f));
    transport.onState((s) => states.push(s));
    transport.connect('Ann', { current: () => 'tok.en.1', renew: async () => undefined });
    const socket = FakeSocket.all[0]!;
    socket.open();
    expect(socket.sent[0]).toMatchObject({ type: 'hello', name: 'Ann', token: 'tok.en.1' });
    socket.frame({ type: 'error', seq: 0, code: 'unauthorized', ref: 'hello', message: 'invalid token: ExpiredSignature' });
    socket.serverClose();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(states.at(-1)).toBe('offline');
    expect(frames).toEqual([expect.objectContaining({ code: 'unauthorized', ref: 'hello' })]);
  });

  it('resumes with a renewed token when the server ends the session at exp', async () => {
    let current = 'tok.en.1';
    const transport = new BrowserTransport('ws://test/ws');
    const frames: ServerFrame[] = [];
    transport.onFrame((f) => frames.push(f));
    transport.connect('Ann', { current: () => current, renew: async () => (current = 'tok.en.2') });
    const first = FakeSocket.all[0]!;
    first.open();
    first.frame(welcome(false));
    first.frame({ type: 'error', seq: 2, code: 'unauthorized', message: 'token expired; reconnect with a fresh token and resume the session' });
    first.serverClose();
    await vi.advanceTimersByTimeAsync(0);
    const second = FakeSocket.all[1]!;
    second.open();
    expect(second.sent[0]).toMatchObject({ type: 'hello', token: 'tok.en.2', resume: { session: 's1', last_seq: 2, token: 'rt' } });
    second.frame(welcome(true, 2));
    expect(frames.some((f) => f.type === 'error')).toBe(false);
    transport.close();
  });
});
