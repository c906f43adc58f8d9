// Vite plugin: emits sw.js (service-worker/sw.js) with the list of files the build produced, so the
// service worker can keep the whole app shell for offline use, and with what it shows for a call push
// (service-worker/notification.js, a module for the unit tests: its `export` keywords are dropped, since a
// classic service worker script has no modules). The version is a hash of those files'
// names (asset names carry content hashes), so any change to the UI installs a new worker.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Plugin } from 'vite';

const TEMPLATE = new URL('./sw.js', import.meta.url);
const NOTIFICATION = new URL('./notification.js', import.meta.url);

export function appShell(): Plugin {
  return {
    name: 'p2pchat-app-shell',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = ['index.html', ...Object.keys(bundle).filter((f) => f !== 'index.html' && !f.endsWith('.map'))].sort();
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
      const shell = `self.__APP_SHELL__ = ${JSON.stringify({ version, files })};\n`;
      const notification = readFileSync(NOTIFICATION, 'utf8').replace(/^export /gm, '');
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: `${shell}${readFileSync(TEMPLATE, 'utf8')}\n${notification}` });
    },
  };
}
