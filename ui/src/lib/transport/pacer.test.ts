// Protects negotiations from the server's rate limit: bursts beyond the budget are delayed, in order,
// never dropped.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer } from './pacer';

describe('Pacer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends a burst at once, then the rest at the rate, in order', () => {
    const sent: number[] = [];
    const pacer = new Pacer<number>((n) => sent.push(n), 10, 5, () => Date.now());
    for (let i = 0; i < 12; i++) pacer.push(i);
    expect(sent).toEqual([0, 1, 2, 3, 4]);
    vi.advanceTimersByTime(350);
    expect(sent.length).toBeGreaterThanOrEqual(8);
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(pacer.pending).toBe(0);
  });

  it('clear drops what is queued', () => {
    const sent: number[] = [];
    const pacer = new Pacer<number>((n) => sent.push(n), 10, 1, () => Date.now());
    pacer.push(1);
    pacer.push(2);
    pacer.clear();
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([1]);
  });
});
