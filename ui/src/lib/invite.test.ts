// Protects invite links: opening `#room=…&token=…` (or pasting the link, or just the token) fills the join
// screen, the old `#/room/<name>` links keep working, and a token the client can already see is expired
// or meant for another room is explained before trying; the server's refusals become clear sentences.
import { describe, expect, it } from 'vitest';
import { decodeTokenClaims, parseFragment, parsePasted, refusalMessage, serverOfLink, tokenProblem } from './invite';
import { roomFromHash } from './route';

/** An unsigned JWT with these claims (the client never checks signatures). */
function jwt(claims: object): string {
  const part = (o: object) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const NOW = 1_800_000_000_000;
const token = jwt({ sub: 'alice', name: 'Alice Ö', exp: NOW / 1000 + 3600, rooms: ['team'] });

describe('token claims', () => {
  it('decodes the payload, UTF-8 included', () => {
    expect(decodeTokenClaims(token)).toEqual({ sub: 'alice', name: 'Alice Ö', exp: NOW / 1000 + 3600, rooms: ['team'] });
  });
  it('refuses what is not a JWT', () => {
    for (const bad of ['', 'abc', 'a.b', 'a.!!.c', `${token}x y`, 'e30.bm90IGpzb24.x']) expect(decodeTokenClaims(bad)).toBeNull();
  });
  it('sees an expired token and a token for another room', () => {
    expect(tokenProblem(token, 'team', NOW)).toBeNull();
    expect(tokenProblem(token, 'other', NOW)).toBe('room');
    expect(tokenProblem(token, 'team', NOW + 3600_000)).toBe('expired');
    expect(tokenProblem(jwt({ sub: 'a', exp: NOW / 1000 + 60, rooms: '*' }), 'any', NOW)).toBeNull();
    expect(tokenProblem(jwt({ sub: 'a', exp: NOW / 1000 + 60, rooms: 'one' }), 'two', NOW)).toBe('room');
    expect(tokenProblem('not-a-token', 'team', NOW)).toBe('malformed');
  });
});

describe('invite fragments', () => {
  it('reads room, token, the name claim and a renewal path', () => {
    expect(parseFragment(`#room=team&token=${token}&renew=/token`)).toEqual({ room: 'team', token, name: 'Alice Ö', renew: '/token' });
  });
  it('keeps accepting the room link', () => {
    expect(parseFragment('#/room/team-1')).toEqual({ room: 'team-1' });
    expect(roomFromHash('#/room/team-1')).toBe('team-1');
    expect(roomFromHash(`#room=team-2&token=${token}`)).toBe('team-2');
  });
  it('drops invalid parts and refuses a renewal path on another origin', () => {
    expect(parseFragment('#room=has space&token=nope')).toBeNull();
    expect(parseFragment('')).toBeNull();
    expect(parseFragment('#/other')).toBeNull();
    expect(parseFragment(`#token=${token}&renew=//evil.example/x`)).toEqual({ token, name: 'Alice Ö' });
    expect(parseFragment(`#token=${token}&renew=https://evil.example/x`)?.renew).toBeUndefined();
  });
});

describe('pasted invitations', () => {
  it('a whole https link fills room, name, token and the server', () => {
    expect(parsePasted(` https://chat.example.org/#room=team&token=${token} `)).toEqual({
      room: 'team', token, name: 'Alice Ö', server: 'wss://chat.example.org/ws',
    });
    expect(parsePasted(`http://10.0.0.5:8080/#room=team&token=${token}`)?.server).toBe('ws://10.0.0.5:8080/ws');
  });
  it('an app deep link, a room link and a bare token', () => {
    expect(parsePasted(`p2pchat://join#room=team&token=${token}`)).toEqual({ room: 'team', token, name: 'Alice Ö' });
    expect(parsePasted(`p2pchat://join#room=team&token=${token}&server=https://chat.example.org`)?.server).toBe('wss://chat.example.org/ws');
    expect(parsePasted('https://chat.example.org/#/room/team')).toEqual({ room: 'team', server: 'wss://chat.example.org/ws' });
    expect(parsePasted(token)).toEqual({ token, name: 'Alice Ö' });
  });
  it('ignores other text', () => {
    for (const other of ['', 'hello there', 'https://example.org/page', 'team']) expect(parsePasted(other)).toBeNull();
  });
  it('maps a server address to its signaling endpoint', () => {
    expect(serverOfLink('https://h.example')).toBe('wss://h.example/ws');
    expect(serverOfLink('wss://h.example/custom')).toBe('wss://h.example/custom');
    expect(serverOfLink('ftp://h.example')).toBeNull();
  });
});

describe('refusals', () => {
  const error = (message: string, ref?: string) => ({ type: 'error' as const, seq: 0, code: 'unauthorized' as const, message, ...(ref ? { ref } : {}) });
  it('says what is wrong', () => {
    expect(refusalMessage(error('this server requires a token in hello', 'hello'), 'team', false)).toMatch(/need an invitation/);
    expect(refusalMessage(error('invalid token: ExpiredSignature', 'hello'), 'team', true)).toMatch(/invitation has expired/);
    expect(refusalMessage(error('token expired; reconnect with a fresh token and resume the session'), 'team', true)).toMatch(/expired/);
    expect(refusalMessage(error('your token does not allow room "team"', 'join'), 'team', true)).toMatch(/not valid for room “team”/);
    expect(refusalMessage(error('invalid token: InvalidSignature', 'hello'), 'team', true)).toMatch(/not valid on this server \(InvalidSignature\)/);
    expect(refusalMessage({ type: 'error', seq: 3, code: 'room_full', message: 'full' }, 'team', true)).toBeNull();
  });
});
