// Protects shareable links: a room link opens that room, a malformed one opens the join screen.
import { describe, expect, it } from 'vitest';
import { roomFromHash, roomHash } from './route';
import { isServerUrl } from './rooms';

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

describe('server addresses (app join screen)', () => {
  it('accepts ws, wss, http and https with a host', () => {
    for (const ok of ['ws://127.0.0.1:8080/ws', 'wss://chat.example.org', 'http://localhost:8080', 'https://x.org']) expect(isServerUrl(ok)).toBe(true);
  });
  it('refuses anything else', () => {
    for (const bad of ['', 'chat.example.org', 'ftp://x.org', 'ws://', 'javascript:alert(1)']) expect(isServerUrl(bad)).toBe(false);
  });
});
