// Builds the web UI to ui/dist, which the signaling server serves at / and the Tauri app embeds.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { appShell } from './service-worker/plugin';

export default defineConfig({
  plugins: [svelte(), appShell()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // Relative asset URLs so the same build works under the server and inside the app.
  base: './',
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
