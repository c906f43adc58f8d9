// The page's invitation token: kept for this browser session (sessionStorage, so a reload keeps it and
// closing the tab forgets it), presented in every `hello` (and resume), and renewed before it expires
// when the operator configured a renewal path (docs/ui.md, Invitations; docs/operations.md, Auth (JWT)).
//
// Renewal contract: `POST <renew>` on the page's own origin, with `Authorization: Bearer <current token>`
// and the origin's cookies; a 200 answer carries the fresh token as JSON `{"token":"<jwt>"}` or as the
// plain-text body. It is asked for 60 s before `exp` (at half the remaining lifetime for shorter tokens).

import { decodeTokenClaims } from './invite';

const TOKEN_KEY = 'p2pchat.token';
const RENEW_KEY = 'p2pchat.token-renew';
/** Renew this long before `exp`. */
export const RENEW_BEFORE_MS = 60_000;
/** Never renew sooner than this after the previous try (a renewal that keeps failing is not a busy loop). */
const MIN_RENEW_GAP_MS = 1_000;

/** What the transport reads before each `hello`, and asks when the server refused the current token. */
export interface TokenSource {
  current(): string | undefined;
  /** Fetches a fresh token now; undefined when there is no renewal path or it gave none. */
  renew(): Promise<string | undefined>;
}

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

function sessionStore(): Store | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // storage blocked: the token lives in memory
  }
}

export class TokenKeeper implements TokenSource {
  private token: string | undefined;
  private renewPath: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: Promise<string | undefined> | null = null;

  constructor(
    private readonly storage: Store | undefined = sessionStore(),
    private readonly fetcher: typeof fetch = (...args) => globalThis.fetch(...args),
    private readonly now: () => number = Date.now,
  ) {
    this.token = this.read(TOKEN_KEY);
    this.renewPath = this.read(RENEW_KEY);
  }

  current(): string | undefined {
    return this.token;
  }

  /** The renewal path, when the invite named one. */
  renewal(): string | undefined {
    return this.renewPath;
  }

  /** Keeps `token` (and the renewal path, when given) for the session and schedules its renewal. */
  set(token: string, renew?: string): void {
    this.token = token;
    this.write(TOKEN_KEY, token);
    if (renew !== undefined) {
      this.renewPath = renew;
      this.write(RENEW_KEY, renew);
    }
    this.schedule();
  }

  /** Forgets the token (e.g. the person cleared the field). */
  clear(): void {
    this.token = undefined;
    this.renewPath = undefined;
    this.storage?.removeItem(TOKEN_KEY);
    this.storage?.removeItem(RENEW_KEY);
    clearTimeout(this.timer);
  }

  /** Milliseconds until the renewal should run; null without a renewal path or a readable `exp`. */
  renewDelay(): number | null {
    if (!this.token || !this.renewPath) return null;
    const exp = decodeTokenClaims(this.token)?.exp;
    if (exp === undefined) return null;
    const left = exp * 1000 - this.now();
    return Math.max(MIN_RENEW_GAP_MS, left - Math.min(RENEW_BEFORE_MS, left / 2));
  }

  /** Starts the renewal timer (a no-op without a renewal path). */
  schedule(): void {
    clearTimeout(this.timer);
    const delay = this.renewDelay();
    if (delay === null) return;
    this.timer = setTimeout(() => void this.renew(), delay);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Asks the renewal path for a fresh token; keeps and returns it. One request at a time. */
  renew(): Promise<string | undefined> {
    this.pending ??= this.fetchFresh().finally(() => (this.pending = null));
    return this.pending;
  }

  private async fetchFresh(): Promise<string | undefined> {
    const path = this.renewPath;
    if (!path) return undefined;
    try {
      const url = new URL(path, location.origin);
      if (url.origin !== location.origin) return undefined; // the token goes nowhere else
      const headers: Record<string, string> = { Accept: 'application/json, text/plain' };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      const response = await this.fetcher(url.href, { method: 'POST', headers, credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw new Error(`renewal answered ${response.status}`);
      const body = (await response.text()).trim();
      let fresh = body;
      if (body.startsWith('{')) {
        const value: unknown = JSON.parse(body);
        fresh = typeof value === 'object' && value !== null && typeof (value as { token?: unknown }).token === 'string' ? (value as { token: string }).token : '';
      }
      if (!decodeTokenClaims(fresh)) throw new Error('renewal gave no token');
      this.set(fresh);
      return fresh;
    } catch {
      // Try again shortly while the current token lasts; after `exp` the server's refusal ends the session.
      clearTimeout(this.timer);
      const exp = this.token ? decodeTokenClaims(this.token)?.exp : undefined;
      if (exp !== undefined && exp * 1000 > this.now() + 5_000) this.timer = setTimeout(() => void this.renew(), 5_000);
      return undefined;
    }
  }

  private read(key: string): string | undefined {
    try {
      return this.storage?.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  }

  private write(key: string, value: string): void {
    try {
      this.storage?.setItem(key, value);
    } catch {
      // Storage blocked or full: the token holds for this page.
    }
  }
}

/** The page's token, shared by every room. */
export const pageToken = new TokenKeeper();
