// Invite links and the tokens they carry (docs/ui.md, Invitations). A server with an auth secret lets in
// only `hello`s with a JWT (docs/protocol.md, Session 5); people get one in an invite link
// `https://host/#room=team&token=<JWT>`, whose fragment never reaches a server or a log. This module reads
// such links (the page's own fragment, a pasted link, the app's `p2pchat://join#…` deep link or a bare
// token), looks inside a token without verifying it (the server verifies; the client only wants the room,
// name and expiry to fill the form and explain refusals), and turns the server's refusals into sentences.

import type { ServerFrame } from './protocol.gen';
import { isValidRoomName } from './rooms';

/** What an invite link or a pasted text gives the join screen; absent fields were not in it. */
export interface Invite {
  room?: string;
  token?: string;
  /** `wss://host/ws` of the server the link points at (pasted `https://` links and deep links with `server=`). */
  server?: string;
  /** The operator's token-renewal path (same origin as the page), from the fragment's `renew=` (token.ts). */
  renew?: string;
  /** The `name` claim of the token, if any. */
  name?: string;
}

/** The claims the client reads from a token (unverified). */
export interface TokenClaims {
  sub?: string;
  name?: string;
  /** Unix seconds. */
  exp?: number;
  rooms?: string | string[];
}

/** Why the client already knows a token will be refused, before trying it. */
export type TokenProblem = 'malformed' | 'expired' | 'room';

/** The shape of a compact JWS: three base64url parts. */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** True for text that looks like a JWT (not a proof that any server accepts it). */
export function looksLikeToken(text: string): boolean {
  return JWT.test(text);
}

/** The payload of a JWT, decoded without checking its signature; null when it is not a readable JWT. */
export function decodeTokenClaims(token: string): TokenClaims | null {
  if (!looksLikeToken(token)) return null;
  try {
    const base64 = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='));
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const value: unknown = JSON.parse(json);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const v = value as Record<string, unknown>;
    const claims: TokenClaims = {};
    if (typeof v.sub === 'string') claims.sub = v.sub;
    if (typeof v.name === 'string') claims.name = v.name;
    if (typeof v.exp === 'number') claims.exp = v.exp;
    if (typeof v.rooms === 'string' || (Array.isArray(v.rooms) && v.rooms.every((r) => typeof r === 'string'))) {
      claims.rooms = v.rooms as string | string[];
    }
    return claims;
  } catch {
    return null;
  }
}

/**
 * What the client can tell about `token` for `room` without asking the server: unreadable, past its `exp`,
 * or not listing the room in its `rooms` claim. Null when nothing is wrong as far as the client can see.
 */
export function tokenProblem(token: string, room: string, nowMs = Date.now()): TokenProblem | null {
  const claims = decodeTokenClaims(token);
  if (!claims) return 'malformed';
  if (claims.exp !== undefined && claims.exp * 1000 <= nowMs) return 'expired';
  if (claims.rooms !== undefined && room) {
    const rooms = typeof claims.rooms === 'string' ? [claims.rooms] : claims.rooms;
    if (!rooms.includes('*') && !rooms.includes(room)) return 'room';
  }
  return null;
}

/**
 * Reads a page fragment: the invite form `#room=team&token=<JWT>[&renew=/token]` or the room link
 * `#/room/<name>`. Null for anything else (an empty fragment included).
 */
export function parseFragment(hash: string): Invite | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  const link = /^\/room\/(.+)$/.exec(fragment);
  if (link) {
    let room = '';
    try {
      room = decodeURIComponent(link[1] ?? '');
    } catch {
      return null;
    }
    return isValidRoomName(room) ? { room } : null;
  }
  if (!fragment.includes('=')) return null;
  const params = new URLSearchParams(fragment);
  const invite: Invite = {};
  const room = params.get('room')?.trim();
  if (room && isValidRoomName(room)) invite.room = room;
  const token = params.get('token')?.trim();
  if (token && looksLikeToken(token)) {
    invite.token = token;
    const name = decodeTokenClaims(token)?.name?.trim();
    if (name) invite.name = name;
  }
  const renew = params.get('renew')?.trim();
  if (renew && renew.startsWith('/') && !renew.startsWith('//')) invite.renew = renew;
  const server = params.get('server')?.trim();
  if (server) {
    const ws = serverOfLink(server);
    if (ws) invite.server = ws;
  }
  return invite.room || invite.token ? invite : null;
}

/**
 * Reads what someone pasted into the join screen's token field: a whole invite link (`https://host/#room=…`,
 * `p2pchat://join#room=…`), a room link (`https://host/#/room/<name>`) or a bare token. Null when it is
 * none of these.
 */
export function parsePasted(text: string): Invite | null {
  const trimmed = text.trim();
  if (!trimmed) return null;
  if (looksLikeToken(trimmed)) {
    const name = decodeTokenClaims(trimmed)?.name?.trim();
    return name ? { token: trimmed, name } : { token: trimmed };
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  const invite = parseFragment(url.hash);
  if (!invite) return null;
  if (!invite.server && (url.protocol === 'https:' || url.protocol === 'http:')) {
    const server = serverOfLink(url.origin);
    if (server) invite.server = server;
  }
  return invite;
}

/** The signaling address of the server at `origin` (`https://host` → `wss://host/ws`); null when not http(s)/ws(s). */
export function serverOfLink(origin: string): string | null {
  try {
    const url = new URL(origin);
    const scheme = { 'https:': 'wss:', 'http:': 'ws:', 'wss:': 'wss:', 'ws:': 'ws:' }[url.protocol];
    if (!scheme || !url.host) return null;
    const path = url.protocol.startsWith('ws') && url.pathname !== '/' ? url.pathname : '/ws';
    return `${scheme}//${url.host}${path}`;
  } catch {
    return null;
  }
}

/** The sentence the join screen shows when the client already sees what is wrong with a token. */
export function problemMessage(problem: TokenProblem, room: string): string {
  switch (problem) {
    case 'expired':
      return 'Your invitation has expired. Ask the person who invited you for a new invite link.';
    case 'room':
      return `Your invitation is not valid for room “${room}”. Check the room name, or ask for an invite to this room.`;
    case 'malformed':
      return 'That is not a valid invitation: paste the whole invite link, or the token from it.';
  }
}

/**
 * The sentence for an `unauthorized` refusal from the server: a `hello` without a token or with a bad one
 * (`ref: "hello"`), a room the token does not allow (`ref: "join"`), or a token that ran out during the
 * session (no `ref`). Null for other frames.
 */
export function refusalMessage(frame: ServerFrame, room: string, hadToken: boolean): string | null {
  if (frame.type !== 'error' || frame.code !== 'unauthorized') return null;
  if (frame.ref === 'join') return problemMessage('room', room);
  const text = frame.message ?? '';
  if (!hadToken || /requires a token/i.test(text)) {
    return 'You need an invitation to join: this server only lets in people with an invite link. Open the link you were sent, or paste it into the Invitation field.';
  }
  if (frame.ref !== 'hello' || /expired/i.test(text)) return problemMessage('expired', room);
  if (/immature/i.test(text)) return 'Your invitation is not valid yet. Try again later.';
  return `Your invitation is not valid on this server (${text.replace(/^invalid token:\s*/i, '') || 'refused'}). Ask for a new invite link.`;
}
