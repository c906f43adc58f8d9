// The start screen's search: messages everywhere, and files by name where the store keeps files (the app);
// a browser's history has no files and finds messages only.
import { describe, expect, it, vi } from 'vitest';
import type { FileRecord, SearchHit } from './ipc.gen';

const calls: Array<[string, Record<string, unknown>]> = [];
vi.mock('./ipc', () => ({
  call: async (name: string, args: Record<string, unknown>) => {
    calls.push([name, args]);
    return [];
  },
  describeError: (err: unknown) => String(err),
}));

const { appHistory, searchAll } = await import('./history');

const hit = { id: 'm1', room: 'team', sender_name: 'Bob', sent_at: 1, snippet: [] } as unknown as SearchHit;
const file = { room: 'team', name: 'Crème brûlée.png' } as FileRecord;

describe('searchAll', () => {
  it('finds messages and files in the app', async () => {
    const store = { ...appHistory, search: async () => [hit], searchFiles: async (q: string) => (q === 'creme' ? [file] : []) };
    expect(await searchAll(store, 'creme')).toEqual({ messages: [hit], files: [file] });
  });

  it('finds messages only in a browser (no files kept)', async () => {
    const { searchFiles: _, ...browser } = { ...appHistory, search: async () => [hit] };
    expect(await searchAll(browser, 'creme')).toEqual({ messages: [hit], files: [] });
  });

  it('asks the app for files by name', async () => {
    await appHistory.searchFiles?.('report');
    expect(calls).toContainEqual(['history_search_files', { query: 'report', limit: 30 }]);
  });
});
