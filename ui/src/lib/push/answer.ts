// The page opened by a call notification's Answer (`?answer=<call>&from=<peer>`, service-worker/
// notification.js) joins the call only when the service worker left the intent for it, i.e. the person
// pressed Answer moments ago: a link with those parameters alone opens the join screen and never starts
// the camera or asks anyone to let us in. The intent is used once.

import { ANSWER_CACHE, ANSWER_INTENT_MS, answerIntentUrl } from '../../../service-worker/notification.js';

export async function takeAnswerIntent(call: string, from: string, now = Date.now()): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  try {
    const cache = await caches.open(ANSWER_CACHE);
    const key = answerIntentUrl(new URL('./', document.baseURI).href, call);
    const hit = await cache.match(key);
    if (!hit) return false;
    await cache.delete(key);
    const intent = (await hit.json()) as { from?: unknown; at?: unknown };
    return intent.from === from && typeof intent.at === 'number' && now - intent.at >= 0 && now - intent.at < ANSWER_INTENT_MS;
  } catch {
    return false;
  }
}
