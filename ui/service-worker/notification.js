// What the service worker shows for a push from the signaling server (docs/protocol.md, push payload;
// docs/ui.md, Ringing people who are away): a ringing call with Answer and Decline, or a missed call once
// the call has ended or its ring has expired. Pure functions, no service worker globals: the build puts
// them in front of sw.js (service-worker/plugin.ts drops the `export` keywords) and the unit tests
// import them (src/lib/push/notification.test.ts).

/** Longest room, name or id taken from a push; anything longer is not ours. */
const MAX_FIELD = 256;

/**
 * @typedef {object} CallPush
 * @property {'call' | 'call-ended'} kind
 * @property {string} room
 * @property {string} call
 * @property {string} caller
 * @property {string} caller_peer
 * @property {string[]} media
 * @property {number} expires_at unix ms
 * @property {string} decline the one-time token that declines without joining
 */

/**
 * @typedef {object} ShownNotification
 * @property {string} title
 * @property {NotificationOptions & { data: NotificationData, actions?: { action: string, title: string }[], renotify?: boolean }} options
 */

/**
 * What a click on the notification needs: `answer` is the page that joins the room and the call, `room`
 * the room's page, `decline` the token for POST push/decline.
 * @typedef {object} NotificationData
 * @property {'call' | 'missed'} kind
 * @property {string} room
 * @property {string} call
 * @property {string} caller
 * @property {string} roomUrl
 * @property {string} [answerUrl]
 * @property {string} [from] the caller's peer id
 * @property {string} [decline]
 * @property {number} [expiresAt]
 */

/** @param {unknown} v */
const text = (v) => typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD;

/**
 * The push's JSON as a call push, or null when it is not one (unknown version or kind, a field missing).
 * @param {string} body
 * @returns {CallPush | null}
 */
export function parsePush(body) {
  let value;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || value.v !== 1) return null;
  if (value.kind !== 'call' && value.kind !== 'call-ended') return null;
  if (![value.room, value.call, value.caller_peer].every(text) || typeof value.caller !== 'string') return null;
  if (typeof value.expires_at !== 'number' || !Number.isFinite(value.expires_at)) return null;
  const media = Array.isArray(value.media) ? value.media.filter((/** @type {unknown} */ m) => m === 'audio' || m === 'video') : [];
  return {
    kind: value.kind,
    room: value.room,
    call: value.call,
    caller: value.caller.slice(0, 64) || 'Someone',
    caller_peer: value.caller_peer,
    media,
    expires_at: value.expires_at,
    decline: typeof value.decline === 'string' ? value.decline : '',
  };
}

/**
 * The room's page: `scope` is the service worker's scope (the app's address, ending in `/`).
 * @param {string} scope
 * @param {string} room
 */
export function roomUrl(scope, room) {
  return `${scope}#/room/${encodeURIComponent(room)}`;
}

/**
 * The page that answers: it joins `room` and asks `from` (the caller's peer id) to let it into `call`.
 * @param {string} scope
 * @param {string} room
 * @param {string} call
 * @param {string} from
 */
export function answerUrl(scope, room, call, from) {
  const query = new URLSearchParams({ answer: call, from });
  return `${scope}?${query}#/room/${encodeURIComponent(room)}`;
}

/** Cache (Cache Storage, shared by the worker and the page) where Answer leaves its intent for the page. */
export const ANSWER_CACHE = 'p2pchat-answer';
/** How long an Answer's intent waits for the page it opened. */
export const ANSWER_INTENT_MS = 120_000;

/**
 * Where the worker keeps the intent to answer `call` (the person pressed Answer): the page opened at the
 * answering address joins the call only if it finds it there, so a link alone never starts the camera.
 * @param {string} scope
 * @param {string} call
 */
export function answerIntentUrl(scope, call) {
  return `${scope}answer-intent/${encodeURIComponent(call)}`;
}

/**
 * The notification for `push` at time `now`: a ringing call while it has not expired, otherwise (ended,
 * or expired before it arrived) a missed call. Both use the call id as tag, so the missed call replaces
 * the ringing one.
 * @param {CallPush} push
 * @param {number} now
 * @param {string} scope
 * @returns {ShownNotification}
 */
export function notificationFor(push, now, scope) {
  const kind = push.media.includes('video') ? 'Video call' : 'Call';
  const base = { room: push.room, call: push.call, caller: push.caller, roomUrl: roomUrl(scope, push.room) };
  if (push.kind === 'call' && now < push.expires_at) {
    return {
      title: `${push.caller} is calling`,
      options: {
        body: `${kind} in #${push.room}`,
        tag: push.call,
        renotify: true,
        requireInteraction: true,
        actions: [
          { action: 'answer', title: 'Answer' },
          { action: 'decline', title: 'Decline' },
        ],
        data: {
          ...base,
          kind: 'call',
          answerUrl: answerUrl(scope, push.room, push.call, push.caller_peer),
          from: push.caller_peer,
          decline: push.decline,
          expiresAt: push.expires_at,
        },
      },
    };
  }
  return missedCall(base);
}

/**
 * The missed call that replaces a ringing one (same tag).
 * @param {{ room: string, call: string, caller: string, roomUrl: string }} call
 * @returns {ShownNotification}
 */
export function missedCall({ room, call, caller, roomUrl }) {
  return {
    title: `Missed call from ${caller}`,
    options: { body: `#${room}`, tag: call, data: { kind: 'missed', room, call, caller, roomUrl } },
  };
}

/**
 * What a click does: `answer` opens the answering page (a click on the notification itself answers too,
 * as tapping a ringing call does on a phone; `answer: true`: an open page of the app may be taken there),
 * `decline` declines through the server, anything on a missed or expired call opens the room.
 * @param {NotificationData} data
 * @param {string} action
 * @param {number} now
 * @returns {{ open: string, answer: boolean } | { decline: { call: string, token: string } }}
 */
export function clickOutcome(data, action, now) {
  const ringing = data.kind === 'call' && data.answerUrl && now < (data.expiresAt ?? 0);
  if (ringing && action === 'decline') return { decline: { call: data.call, token: data.decline ?? '' } };
  if (ringing) return { open: /** @type {string} */ (data.answerUrl), answer: true };
  return { open: data.roomUrl, answer: false };
}
