// Message ids already received, per sender: a message is a duplicate only if the same peer sent that id
// before. One global set let any member suppress someone else's message by sending its id first (everyone
// in a room receives everyone's messages). Bounded: the ids matter only while a sender may still resend
// (until it sees our ack), so the oldest are forgotten first.

// Ids remembered per sender (a resend comes soon after the original; far more than any outbox holds) and
// senders remembered (peer ids change with every signaling session, so old ones pile up): the Rust
// client's numbers (src-tauri/core/src/chat/seen.rs), both held to src-tauri/core/tests/vectors/chat_seen.json.
import { MAX_SEEN_PEERS, MAX_SEEN_PER_PEER } from '../core.gen';

export { MAX_SEEN_PEERS, MAX_SEEN_PER_PEER };

export class SeenIds {
  /** Insertion-ordered: the most recently active sender last, each sender's newest id last. */
  private readonly byPeer = new Map<string, Set<string>>();

  has(peer: string, id: string): boolean {
    return this.byPeer.get(peer)?.has(id) ?? false;
  }

  add(peer: string, id: string): void {
    const ids = this.byPeer.get(peer) ?? new Set<string>();
    this.byPeer.delete(peer);
    this.byPeer.set(peer, ids);
    ids.add(id);
    if (ids.size > MAX_SEEN_PER_PEER) ids.delete(ids.values().next().value!);
    if (this.byPeer.size > MAX_SEEN_PEERS) this.byPeer.delete(this.byPeer.keys().next().value!);
  }

  /** The same person under a new peer id (a checked re-key): their resends are still recognised. */
  rename(from: string, to: string): void {
    const old = this.byPeer.get(from);
    if (!old) return;
    this.byPeer.delete(from);
    for (const id of old) this.add(to, id);
  }
}
