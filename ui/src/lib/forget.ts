// What "forget this device" erases in the page itself, in a browser and in the app's webview alike: the
// name and settings kept in localStorage (keys starting `p2pchat.`) and the device identity (identity.ts).
// The history is erased by its own store (IndexedDB in a browser, the app's backend on disk).

import { forgetIdentity } from './identity';

const LOCAL_PREFIX = 'p2pchat.';

export async function forgetPageData(): Promise<void> {
  const storage = globalThis.localStorage;
  for (let i = (storage?.length ?? 0) - 1; i >= 0; i--) {
    const key = storage.key(i);
    if (key?.startsWith(LOCAL_PREFIX)) storage.removeItem(key);
  }
  await forgetIdentity();
}
