// What the service worker shows for a call push and what a click on it does (service-worker/notification.js):
// a ringing call with Answer/Decline until the push expires, a missed call for an ended or expired call
// (same tag, so it replaces the ringing one), and the answering page's address.
import { describe, expect, it } from 'vitest';
import { answerIntentUrl, answerUrl, clickOutcome, notificationFor, parsePush } from '../../../service-worker/notification.js';

const scope = 'https://chat.example.org/';
const now = 1_700_000_000_000;
const push = {
  v: 1,
  kind: 'call',
  room: 'team',
  call: '0193a0e0-0000-7000-8000-000000000001',
  caller: 'Alice',
  caller_peer: 'p-alice',
  media: ['audio', 'video'],
  expires_at: now + 45_000,
  decline: 'tok123',
};

describe('call push', () => {
  it('rings with Answer and Decline, tagged by the call, until it is answered', () => {
    const parsed = parsePush(JSON.stringify(push));
    expect(parsed).not.toBeNull();
    const { title, options } = notificationFor(parsed!, now, scope);
    expect(title).toBe('Alice is calling');
    expect(options.body).toBe('Video call in #team');
    expect(options.tag).toBe(push.call);
    expect(options.requireInteraction).toBe(true);
    expect(options.actions?.map((a) => a.action)).toEqual(['answer', 'decline']);
    expect(options.data.answerUrl).toBe(`${scope}?answer=${push.call}&from=p-alice#/room/team`);
    expect(options.data.from).toBe('p-alice');
  });

  it('an expired call shows a missed call with the same tag', () => {
    const { title, options } = notificationFor(parsePush(JSON.stringify(push))!, now + 45_000, scope);
    expect(title).toBe('Missed call from Alice');
    expect(options.tag).toBe(push.call);
    expect(options.requireInteraction).toBeUndefined();
    expect(options.actions).toBeUndefined();
    expect(options.data.kind).toBe('missed');
  });

  it('a call-ended push shows a missed call, also before the expiry', () => {
    const { title, options } = notificationFor(parsePush(JSON.stringify({ ...push, kind: 'call-ended' }))!, now, scope);
    expect(title).toBe('Missed call from Alice');
    expect(options.tag).toBe(push.call);
  });

  it('an audio call says so', () => {
    expect(notificationFor(parsePush(JSON.stringify({ ...push, media: ['audio'] }))!, now, scope).options.body).toBe('Call in #team');
  });

  it('refuses what is not a call push', () => {
    for (const bad of ['', 'not json', 'null', '[]', JSON.stringify({ ...push, v: 2 }), JSON.stringify({ ...push, kind: 'chat' }),
      JSON.stringify({ ...push, room: '' }), JSON.stringify({ ...push, call: 'x'.repeat(300) }), JSON.stringify({ ...push, expires_at: 'soon' }),
      JSON.stringify({ ...push, caller_peer: 5 })]) {
      expect(parsePush(bad), bad).toBeNull();
    }
  });

  it('room names are escaped in the addresses', () => {
    expect(answerUrl(scope, 'a b/c', 'id', 'p')).toBe(`${scope}?answer=id&from=p#/room/a%20b%2Fc`);
    expect(answerIntentUrl(scope, 'a/b')).toBe(`${scope}answer-intent/a%2Fb`);
  });
});

describe('a click', () => {
  const ringing = notificationFor(parsePush(JSON.stringify(push))!, now, scope).options.data;

  it('Answer, or the notification itself, opens the answering page', () => {
    expect(clickOutcome(ringing, 'answer', now)).toEqual({ open: ringing.answerUrl, answer: true });
    expect(clickOutcome(ringing, '', now)).toEqual({ open: ringing.answerUrl, answer: true });
  });

  it('Decline declines with the one-time token', () => {
    expect(clickOutcome(ringing, 'decline', now)).toEqual({ decline: { call: push.call, token: 'tok123' } });
  });

  it('after the expiry, or on a missed call, it opens the room', () => {
    expect(clickOutcome(ringing, 'answer', push.expires_at)).toEqual({ open: `${scope}#/room/team`, answer: false });
    expect(clickOutcome(ringing, 'decline', push.expires_at)).toEqual({ open: `${scope}#/room/team`, answer: false });
    const missed = notificationFor(parsePush(JSON.stringify({ ...push, kind: 'call-ended' }))!, now, scope).options.data;
    expect(clickOutcome(missed, 'answer', now)).toEqual({ open: `${scope}#/room/team`, answer: false });
  });
});
