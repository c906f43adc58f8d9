// Full-text search over the browser's stored messages (MiniSearch), shaped like the app's search so the
// start screen shows both the same way: accents and case ignored, every word a prefix, all words
// required, hits marked in a short snippet, newest first, a page at a time with an opaque cursor.

import MiniSearch, { type SearchResult } from 'minisearch';
import type { SearchHit, SnippetPart } from '../ipc.gen';
import { SEARCH_PAGE, type MessageSearchPage, type StoredMessage } from '../history';
/** Characters of a long message shown around its first hit. */
const SNIPPET_CHARS = 120;

/** A word as the index keeps it: lower case, without accents (é → e). */
export const normalizeWord = (word: string): string => word.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

type Doc = Pick<StoredMessage, 'id' | 'room' | 'sender' | 'sender_name' | 'sent_at' | 'body'>;
/** What the index holds per message: `key` is (room, sender, id), `message` the message's id. */
type Indexed = Pick<StoredMessage, 'room' | 'sender_name' | 'sent_at' | 'body'> & { key: string; message: string };

export class MessageIndex {
  private readonly index = new MiniSearch<Indexed>({
    idField: 'key',
    fields: ['body'],
    storeFields: ['message', 'room', 'sender_name', 'sent_at', 'body'],
    processTerm: (term) => normalizeWord(term) || null,
    searchOptions: { prefix: true, combineWith: 'AND' },
  });

  get size(): number {
    return this.index.documentCount;
  }

  add(message: Doc): void {
    // Message ids are unique per room and sender only (as the history's keys).
    const key = JSON.stringify([message.room, message.sender, message.id]);
    if (this.index.has(key)) return;
    this.index.add({ key, message: message.id, room: message.room, sender_name: message.sender_name, sent_at: message.sent_at, body: message.body });
  }

  /** The newest `limit` matches older than `cursor` (a page's `next`; none: the newest), newest first. The
   * cursor is the last hit's place in that order (time, then key), so messages added between pages
   * neither repeat nor shift what follows. */
  search(query: string, cursor?: string | null, limit = SEARCH_PAGE): MessageSearchPage {
    if (!query.trim()) return { hits: [], next: null };
    const after = cursor ? readCursor(cursor) : null;
    const found = this.index
      .search(query)
      .map((r) => ({ result: r, place: [r.sent_at as number, r.id as string] as Place }))
      .filter((m) => !after || older(m.place, after))
      .sort((a, b) => (older(a.place, b.place) ? 1 : older(b.place, a.place) ? -1 : 0));
    const page = found.slice(0, limit);
    const last = page.at(-1);
    return { hits: page.map((m) => toHit(m.result)), next: found.length > limit && last ? JSON.stringify(last.place) : null };
  }
}

/** A match's place in the newest-first order: its time, then its index key (unique). */
type Place = [sentAt: number, key: string];

/** Whether `a` comes after `b` newest first. */
const older = (a: Place, b: Place): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function readCursor(cursor: string): Place {
  let place: unknown = null;
  try {
    place = JSON.parse(cursor);
  } catch {
    // Not JSON: refused below.
  }
  if (Array.isArray(place) && typeof place[0] === 'number' && typeof place[1] === 'string') return [place[0], place[1]];
  throw new Error('that search cursor is not one this history gave');
}

function toHit(result: SearchResult): SearchHit {
  return {
    id: result.message as string,
    room: result.room as string,
    sender_name: result.sender_name as string,
    sent_at: result.sent_at as number,
    snippet: snippet(result.body as string, new Set(result.terms)),
    rank: -result.score,
  };
}

/** `body` split into plain and hit parts (words whose indexed form matched), trimmed around the first hit. */
export function snippet(body: string, terms: Set<string>): SnippetPart[] {
  const words = [...body.matchAll(/[\p{L}\p{N}_]+/gu)];
  const hits = words.filter((w) => terms.has(normalizeWord(w[0])));
  let start = 0;
  let end = body.length;
  if (body.length > SNIPPET_CHARS) {
    start = Math.max(0, (hits[0]?.index ?? 0) - SNIPPET_CHARS / 3);
    end = Math.min(body.length, start + SNIPPET_CHARS);
  }
  const parts: SnippetPart[] = [];
  const text = (t: string) => {
    if (!t) return;
    const last = parts.at(-1);
    if (last && !last.hit) last.text += t;
    else parts.push({ text: t, hit: false });
  };
  if (start > 0) text('…');
  let at = start;
  for (const w of hits) {
    const from = w.index;
    const to = from + w[0].length;
    if (from < at || to > end) continue;
    text(body.slice(at, from));
    parts.push({ text: w[0], hit: true });
    at = to;
  }
  text(body.slice(at, end));
  if (end < body.length) text('…');
  return parts;
}
