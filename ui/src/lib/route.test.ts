// Protects shareable links: a room link opens that room, a malformed one opens the join screen.
import { describe, expect, it } from 'vitest';
import { roomFromHash, roomHash } from './route';

describe('room links', () => {
  it('round-trips a room name', () => {
    expect(roomFromHash(roomHash('team-1'))).toBe('team-1');
  });
  it('ignores invalid names', () => {
    expect(roomFromHash('#/room/has space')).toBe('');
    expect(roomFromHash('#/room/')).toBe('');
    expect(roomFromHash('#/other')).toBe('');
  });
});
