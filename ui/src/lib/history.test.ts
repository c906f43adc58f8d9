// The start screen's search: messages everywhere, a page at a time, and files by name where the store keeps
// files (the app); a browser's history has no files and finds messages only.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileRecord, SearchHit } from './ipc.gen';

const calls: Array<[string, Record<string, unknown>?]> = [];
/** The app's connection as the forget test needs it: listeners of signaling://frame, and the server's answer. */
const frames = new Set<(frame: unknown) => void>();
const server = { online: true, answerAfterMs: 0 as number | null };
const pushDevice: { kept: { id: string; secret: string } | null } = { kept: null };
vi.mock('./ipc', () => ({
  call: async (name: string, args?: Record<string, unknown>) => {
    calls.push([name, args]);
    if (name === 'push_frame') {
      if (!server.online) throw { kind: 'not_connected', message: 'not connected' };
      const device = (args?.frame as { device: string }).device;
      if (server.answerAfterMs !== null) setTimeout(() => frames.forEach((f) => f({ type: 'push-unregistered', seq: 1, device })), server.answerAfterMs);
      return null;
    }
    return name === 'search_messages' ? { hits: [], next: { before: 7 } } : [];
  },
  on: async (name: string, handler: (frame: unknown) => void) => {
    if (name !== 'signaling://frame') return () => undefined;
    frames.add(handler);
    return () => frames.delete(handler);
  },
  describeError: (err: unknown) => String(err),
}));
vi.mock('./push/browser', () => ({ keptPushDevice: async () => pushDevice.kept }));
vi.mock('./forget', () => ({ forgetPageData: async () => void calls.push(['forgetPageData']) }));

const { appHistory, searchAll, searchMessagesPage, FOLLOW_EMPTY_PAGES_MS, FORGET_PUSH_WAIT_MS } = await import('./history');

const hit = { id: 'm1', room: 'team', sender_name: 'Bob', sent_at: 1, snippet: [] } as unknown as SearchHit;
const file = { room: 'team', name: 'Crème brûlée.png' } as FileRecord;
const page = { hits: [hit], next: 'older' };

describe('searchAll', () => {
  it('finds messages and files in the app', async () => {
    const store = { ...appHistory, search: async () => page, searchFiles: async (q: string) => (q === 'creme' ? [file] : []) };
    expect(await searchAll(store, 'creme')).toEqual({ messages: page, files: [file] });
  });

  it('finds messages only in a browser (no files kept)', async () => {
    const { searchFiles: _, ...browser } = { ...appHistory, search: async () => page };
    expect(await searchAll(browser, 'creme')).toEqual({ messages: page, files: [] });
  });

  it('asks the app for the first page, then for the page after its cursor, which the window holds as text', async () => {
    const first = await appHistory.search('kuber');
    expect(first.next).toBe('{"before":7}');
    await appHistory.search('kuber', first.next);
    expect(calls).toContainEqual(['search_messages', { query: 'kuber', before: null, limit: 30 }]);
    expect(calls).toContainEqual(['search_messages', { query: 'kuber', before: { before: 7 }, limit: 30 }]);
  });

  it('asks the app for files by name', async () => {
    await appHistory.searchFiles?.('report');
    expect(calls).toContainEqual(['history_search_files', { query: 'report', limit: 30 }]);
  });

  it('goes on past empty pages (the search ran out of time) until it finds something, for a while only', async () => {
    // Pages 0..3 empty with a cursor each, page 4 has the hit.
    const asked: Array<string | null | undefined> = [];
    const store = {
      ...appHistory,
      search: async (_q: string, cursor?: string | null) => {
        asked.push(cursor);
        const at = Number(cursor ?? 0);
        return at < 4 ? { hits: [], next: String(at + 1) } : { hits: [hit], next: '5' };
      },
    };
    expect(await searchMessagesPage(store, 'rare words')).toEqual({ hits: [hit], next: '5' });
    expect(asked).toEqual([undefined, '1', '2', '3', '4']);
    // Always empty: it stops once its time is up, still offering the next page.
    let clock = 0;
    const empty = { ...appHistory, search: async (_q: string, cursor?: string | null) => ({ hits: [], next: `${Number(cursor ?? 0) + 1}` }) };
    const tick = () => (clock += 50);
    const page = await searchMessagesPage(empty, 'rare words', '10', tick);
    expect(page.hits).toEqual([]);
    expect(page.next).toBe(String(10 + FOLLOW_EMPTY_PAGES_MS / 50));
  });
});

describe("the app's forget this device", () => {
  beforeEach(() => {
    calls.length = 0;
    Object.assign(server, { online: true, answerAfterMs: 0 });
    pushDevice.kept = null;
  });
  const names = () => calls.map(([name]) => name);

  it('tells the server to stop ringing this device before the backend disconnects, and waits for its answer', async () => {
    pushDevice.kept = { id: 'dev-1', secret: 'secret-1' };
    server.answerAfterMs = 200;
    const started = Date.now();
    await appHistory.forget!();
    expect(calls[0]).toEqual(['push_frame', { frame: { type: 'push-unregister', device: 'dev-1', secret: 'secret-1' } }]);
    expect(names()).toEqual(['push_frame', 'forget_device', 'forgetPageData']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(frames.size, 'stops listening').toBe(0);
  });

  it('goes on after a while without an answer, at once offline, and sends nothing for a device never registered', async () => {
    vi.useFakeTimers();
    try {
      pushDevice.kept = { id: 'dev-1', secret: 'secret-1' };
      server.answerAfterMs = null;
      const forgetting = appHistory.forget!();
      await vi.advanceTimersByTimeAsync(FORGET_PUSH_WAIT_MS - 100);
      expect(names()).toEqual(['push_frame']);
      await vi.advanceTimersByTimeAsync(200);
      await forgetting;
      expect(names()).toEqual(['push_frame', 'forget_device', 'forgetPageData']);
    } finally {
      vi.useRealTimers();
    }
    calls.length = 0;
    server.online = false;
    await appHistory.forget!();
    expect(names()).toEqual(['push_frame', 'forget_device', 'forgetPageData']);
    calls.length = 0;
    pushDevice.kept = null;
    await appHistory.forget!();
    expect(names()).toEqual(['forget_device', 'forgetPageData']);
  });
});
