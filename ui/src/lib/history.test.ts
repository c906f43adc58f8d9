// The start screen's search: messages everywhere, a page at a time, and files by name where the store keeps
// files (the app); a browser's history has no files and finds messages only.
import { describe, expect, it, vi } from 'vitest';
import type { FileRecord, SearchHit } from './ipc.gen';

const calls: Array<[string, Record<string, unknown>]> = [];
vi.mock('./ipc', () => ({
  call: async (name: string, args: Record<string, unknown>) => {
    calls.push([name, args]);
    return name === 'search_messages' ? { hits: [], next: { before: 7 } } : [];
  },
  describeError: (err: unknown) => String(err),
}));

const { appHistory, searchAll, searchMessagesPage, FOLLOW_EMPTY_PAGES_MS } = await import('./history');

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
