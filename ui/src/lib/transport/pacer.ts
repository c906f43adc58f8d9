// Client-side pacing of outgoing frames under the server's per-connection rate limit (50/s, burst 200):
// a burst of ICE candidates queues here instead of being refused with `rate_limited`, because a lost
// offer or answer would leave a negotiation waiting forever.

export class Pacer<T> {
  private tokens: number;
  private last: number;
  private readonly queue: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (item: T) => void,
    private readonly ratePerSec = 40,
    private readonly burst = 150,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  push(item: T): void {
    this.queue.push(item);
    this.drain();
  }

  /** Drops everything queued (the connection is gone; owners resend what matters). */
  clear(): void {
    this.queue.length = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get pending(): number {
    return this.queue.length;
  }

  private drain(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.send(this.queue.shift() as T);
    }
    if (this.queue.length > 0 && this.timer === undefined) {
      const wait = Math.ceil(((1 - this.tokens) / this.ratePerSec) * 1000);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, wait);
    }
  }
}
