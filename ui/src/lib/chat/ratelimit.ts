// A per-peer limit on received chat messages, so one member cannot flood everyone's screen, notifications
// and history. A token bucket: a burst of CHAT_BURST messages, then CHAT_PER_SECOND. Messages beyond it
// wait their turn (up to CHAT_MAX_WAITING per peer) and are then shown in order; beyond that they are
// dropped unacknowledged, so the sender sees them as sent, not delivered, and its outbox sends them again
// when the link is re-established. The Rust client's limit (src-tauri/core/src/chat/ratelimit.rs) defines the
// numbers and runs the same cases (src-tauri/core/tests/vectors/chat_ratelimit.json).

import { takeToken, type Tokens } from '../bucket';
import { CHAT_BURST, CHAT_MAX_WAITING, CHAT_PER_SECOND } from '../core.gen';

export { CHAT_BURST, CHAT_MAX_WAITING, CHAT_PER_SECOND };

export type Admission = 'now' | 'later' | 'dropped';

interface Bucket extends Tokens {
  waiting: string[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class ChatRateLimit {
  private readonly buckets = new Map<string, Bucket>();

  /** `release` gets the waiting messages as their turn comes, in arrival order. */
  constructor(
    private readonly release: (peer: string, text: string) => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Whether `text` from `peer` may be handled now, was queued for later, or was dropped. */
  admit(peer: string, text: string): Admission {
    const bucket = this.bucket(peer);
    if (bucket.waiting.length === 0 && this.take(bucket)) return 'now';
    if (bucket.waiting.length >= CHAT_MAX_WAITING) return 'dropped';
    bucket.waiting.push(text);
    this.schedule(peer, bucket);
    return 'later';
  }

  /** How many of `peer`'s messages wait. */
  waiting(peer: string): number {
    return this.buckets.get(peer)?.waiting.length ?? 0;
  }

  peerGone(peer: string): void {
    clearTimeout(this.buckets.get(peer)?.timer);
    this.buckets.delete(peer);
  }

  peerRenamed(from: string, to: string): void {
    const bucket = this.buckets.get(from);
    if (!bucket || this.buckets.has(to)) return;
    this.buckets.delete(from);
    this.buckets.set(to, bucket);
    if (bucket.timer !== undefined) {
      clearTimeout(bucket.timer);
      bucket.timer = undefined;
      this.schedule(to, bucket);
    }
  }

  close(): void {
    for (const bucket of this.buckets.values()) clearTimeout(bucket.timer);
    this.buckets.clear();
  }

  private bucket(peer: string): Bucket {
    let bucket = this.buckets.get(peer);
    if (!bucket) {
      bucket = { tokens: CHAT_BURST, at: this.now(), waiting: [], timer: undefined };
      this.buckets.set(peer, bucket);
    }
    return bucket;
  }

  private take(bucket: Bucket): boolean {
    return takeToken(bucket, CHAT_BURST, CHAT_PER_SECOND, this.now());
  }

  private schedule(peer: string, bucket: Bucket): void {
    if (bucket.timer !== undefined) return;
    bucket.timer = setTimeout(() => {
      bucket.timer = undefined;
      while (bucket.waiting.length > 0 && this.take(bucket)) this.release(peer, bucket.waiting.shift()!);
      if (bucket.waiting.length > 0) this.schedule(peer, bucket);
    }, 1000 / CHAT_PER_SECOND);
  }
}
