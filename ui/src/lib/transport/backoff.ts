// Reconnect delays: exponential backoff with full jitter, so many clients reconnecting after a server
// restart spread out instead of arriving together.

import { BACKOFF_BASE_MS, BACKOFF_MAX_MS } from '../core.gen';

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** The same curve as the app's Rust client (constants generated from it). */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS };

/** Delay before reconnect attempt number `attempt` (0-based): uniform in [0, min(max, base·2^attempt)]. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
