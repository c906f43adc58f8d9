// Protects the server after a restart: reconnect delays grow exponentially, are capped, and are jittered.
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap', () => {
    const top = () => 1;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, { baseMs: 100, maxMs: 1000 }, top))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(10, { baseMs: 100, maxMs: 1000 }, top)).toBe(1000);
    expect(backoffDelay(1e6, { baseMs: 100, maxMs: 1000 }, top)).toBe(1000);
  });

  it('is jittered over the whole range', () => {
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000 }, () => 0)).toBe(0);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 1000 }, () => 0.5)).toBe(400);
  });
});
