// What a person's file offers may cost, run from the cases shared with the app's native receiver
// (src-tauri/core/tests/vectors/file_limits.json, src-tauri/core/src/links/files/limits.rs): a flood of
// offers becomes a few rows, and waiting offers get their place in order of arrival, on both sides alike.
import { describe, expect, it } from 'vitest';
import vectors from '../../../../src-tauri/core/tests/vectors/file_limits.json';
import { IncomingLimits, type Ticket } from './limits';

interface Step {
  at_ms?: number;
  offers?: string;
  count?: number;
  taken?: number;
  request?: string;
  as?: string;
  gets?: 'started' | 'waiting' | 'refused';
  release?: string;
  started?: string[];
}

describe('shared file limit vectors', () => {
  it.each(vectors.cases)('$name', ({ steps }) => {
    let now = 0;
    const limits = new IncomingLimits(() => now);
    const tickets = new Map<string, Ticket>();
    let started: string[] = [];
    for (const [i, step] of (steps as Step[]).entries()) {
      const where = `step ${i}: ${JSON.stringify(step)}`;
      if (step.at_ms !== undefined) now = step.at_ms;
      if (step.offers) {
        let taken = 0;
        for (let n = 0; n < step.count!; n++) if (limits.takeOffer(step.offers)) taken += 1;
        expect(taken, where).toBe(step.taken);
      }
      if (step.request) {
        const ticket = limits.request(step.request);
        expect(ticket === null ? 'refused' : ticket.started ? 'started' : 'waiting', where).toBe(step.gets);
        if (ticket) {
          const name = step.as!;
          ticket.onStart = () => started.push(name);
          tickets.set(name, ticket);
        }
      }
      if (step.release) {
        started = [];
        tickets.get(step.release)!.release();
        expect(started, where).toEqual(step.started);
      }
    }
  });
});
