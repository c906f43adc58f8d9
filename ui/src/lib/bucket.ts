// A token bucket's arithmetic, shared by the per-peer limits (chat messages, file offers): `burst` tokens,
// refilled at `perSecond`; each accepted item takes one.

export interface Tokens {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

/** Refills `bucket` up to `now`, then takes a token if there is one. */
export function takeToken(bucket: Tokens, burst: number, perSecond: number, now: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
  bucket.at = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
