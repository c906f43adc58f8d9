// Offline start for the browser build: registers the service worker that keeps the app shell
// (ui/service-worker/), so the page opens without a network and shows the history kept in IndexedDB.
// Not in the app (its files are on disk already) nor in the dev server (no built shell to keep).

import { inTauri } from './transport/tauri';

export function keepAppShell(): void {
  if (!import.meta.env.PROD || inTauri() || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('./sw.js').catch(() => {
    // No service worker (private mode, blocked): the page still works online.
  });
}
