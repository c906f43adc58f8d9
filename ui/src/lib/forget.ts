// What "forget this device" erases in the page itself, in a browser and in the app's webview alike: the
// name and settings kept in localStorage (keys starting `p2pchat.`), the device identity (identity.ts) and
// the push registration that rings this device when it is away: in a browser the server is told to drop
// it, the subscription is dropped, its id and secret deleted (push/browser.ts); in the app on a phone the
// push service's registration is dropped and the id and secret deleted (push/mobile.ts).
// The history is erased by its own store (IndexedDB in a browser, the app's backend on disk).

import { forgetIdentity } from './identity';
import { forgetWebPush } from './push/browser';
import { forgetMobilePush } from './push/mobile';
import { pageToken } from './token';
import { inTauri } from './transport/tauri';

const LOCAL_PREFIX = 'p2pchat.';

export async function forgetPageData(): Promise<void> {
  // Before the session's token is erased with the rest: a server with invitations needs it.
  if (!inTauri()) await forgetWebPush(undefined, pageToken.current());
  else await forgetMobilePush();
  const storage = globalThis.localStorage;
  for (let i = (storage?.length ?? 0) - 1; i >= 0; i--) {
    const key = storage.key(i);
    if (key?.startsWith(LOCAL_PREFIX)) storage.removeItem(key);
  }
  await forgetIdentity();
}
