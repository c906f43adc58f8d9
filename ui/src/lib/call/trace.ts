// Test hook: the page's recent signaling (frames, signals in and out, negotiation and link events) with
// wall-clock times, so a browser test that waits in vain can print what each page saw. Kept only while test
// hooks are on: never in a production page unless a test asked for it before the page loaded.

/** How many events are kept (the oldest go first). */
export const TRACE_CAPACITY = 200;

/** The dev server, or a page whose test set `window.__p2pchatTestHooks = true` before it loaded. */
export function testHooksEnabled(): boolean {
  return import.meta.env.DEV || (globalThis as { __p2pchatTestHooks?: unknown }).__p2pchatTestHooks === true;
}

/** A ring buffer of the last `capacity` events, each prefixed with its time (HH:MM:SS.mmm, UTC). */
export class SignalTrace {
  private readonly ring: string[] = [];
  private next = 0;

  constructor(
    private readonly capacity = TRACE_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {}

  record(event: string): void {
    const line = `${new Date(this.now()).toISOString().slice(11, 23)} ${event}`;
    if (this.ring.length < this.capacity) this.ring.push(line);
    else this.ring[this.next] = line;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Oldest first. */
  entries(): string[] {
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
