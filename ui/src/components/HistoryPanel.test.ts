// @vitest-environment jsdom
// The start screen's search as a person uses it, on a store whose pages the test chooses: results newest
// first, "More results" adding the next page below while the store has one (also after a short or empty
// page: the app's search stops after a few milliseconds) with the focus on the first result added, and a
// new query dropping the old one's cursor.
import { afterEach, describe, expect, it } from 'vitest';
// Svelte's client runtime: outside a browser the package resolves to its server build, where mount throws.
// @ts-expect-error the file has no declarations of its own; its API is the package's (typed below)
import * as clientRuntime from '../../node_modules/svelte/src/index-client.js';
import HistoryPanel from './HistoryPanel.svelte';
import type { HistoryStore, MessageSearchPage, SearchHit } from '../lib/history';

const { flushSync, mount, unmount } = clientRuntime as Pick<typeof import('svelte'), 'flushSync' | 'mount' | 'unmount'>;

const hit = (n: number, room = 'team'): SearchHit => ({
  id: `m${n}`, room, sender_name: 'Bob', sent_at: 1000 + n, rank: -1, snippet: [{ text: `deploy ${n}`, hit: false }],
});

/** A store answering each (query, cursor) with `pages`; unknown ones with an empty last page. */
function storeWith(pages: (query: string, cursor: string | null) => MessageSearchPage | Promise<MessageSearchPage>) {
  const asked: Array<[string, string | null]> = [];
  const store: HistoryStore = {
    room: () => {
      throw new Error('not used');
    },
    conversations: async () => [],
    notice: async () => null,
    search: async (query, cursor) => {
      asked.push([query, cursor ?? null]);
      return pages(query, cursor ?? null);
    },
  };
  return { store, asked };
}

let panel: ReturnType<typeof mount> | null = null;
afterEach(() => {
  if (panel) unmount(panel);
  panel = null;
  document.body.innerHTML = '';
});

function show(store: HistoryStore) {
  const target = document.createElement('div');
  document.body.append(target);
  panel = mount(HistoryPanel, { target, props: { store, onopen: () => undefined } });
  flushSync();
  return target;
}

async function until(what: string, pred: () => boolean, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function type(target: HTMLElement, text: string) {
  const input = target.querySelector<HTMLInputElement>('[data-testid="search-input"]')!;
  input.value = text;
  input.dispatchEvent(new Event('input', { bubbles: true }));
  flushSync();
}
const results = (target: HTMLElement) => [...target.querySelectorAll('[data-testid="search-result"] .preview')].map((e) => e.textContent?.replace('Bob: ', ''));
const more = (target: HTMLElement) => target.querySelector<HTMLButtonElement>('[data-testid="more-results"]');

describe('HistoryPanel search', () => {
  it('adds older pages below while the store has more, short pages included', async () => {
    const { store, asked } = storeWith((_q, cursor) => {
      if (cursor === null) return { hits: [hit(9), hit(8)], next: 'p2' };
      if (cursor === 'p2') return { hits: [hit(5)], next: 'p3' }; // short: the search's time ran out
      return { hits: [hit(2)], next: null };
    });
    const target = show(store);
    type(target, 'deploy');
    await until('the first page', () => results(target).length === 2);
    expect(results(target)).toEqual(['deploy 9', 'deploy 8']);
    more(target)!.click();
    await until('the second page', () => results(target).length === 3);
    expect(more(target), 'a short page with a cursor still offers more').not.toBeNull();
    more(target)!.click();
    await until('the last page', () => results(target).length === 4);
    expect(results(target)).toEqual(['deploy 9', 'deploy 8', 'deploy 5', 'deploy 2']);
    expect(more(target), 'every message searched').toBeNull();
    await until('focus on the first result added', () => document.activeElement?.closest('[data-testid="search-result"]')?.textContent?.includes('deploy 2') === true);
    expect(asked).toEqual([['deploy', null], ['deploy', 'p2'], ['deploy', 'p3']]);
  });

  it('says nothing matched among the newest messages yet and offers more when the pages stay empty', async () => {
    let n = 0;
    const { store } = storeWith(() => ({ hits: [], next: `e${++n}` }));
    const target = show(store);
    type(target, 'rare words');
    await until('the panel gives up following empty pages', () => more(target) !== null);
    expect(target.textContent).toContain('No match among the newest messages.');
    expect(target.textContent).not.toContain('Nothing matches.');
  });

  it('drops the old cursor and a late page of the old query when a new query is typed', async () => {
    let release: (page: MessageSearchPage) => void = () => undefined;
    const { store, asked } = storeWith((query, cursor) => {
      if (query === 'deploy' && cursor === null) return { hits: [hit(9)], next: 'p2' };
      if (query === 'deploy') return new Promise((resolve) => (release = resolve));
      return { hits: [hit(1, 'other')], next: null };
    });
    const target = show(store);
    type(target, 'deploy');
    await until('the first page', () => more(target) !== null);
    more(target)!.click();
    await until('the next page asked', () => asked.length === 2);
    type(target, 'review');
    expect(more(target), 'the old cursor is gone at once').toBeNull();
    await until('the new query', () => results(target)[0] === 'deploy 1');
    release({ hits: [hit(5)], next: 'p3' });
    await new Promise((r) => setTimeout(r, 50));
    expect(results(target)).toEqual(['deploy 1']);
    expect(more(target)).toBeNull();
  });
});
