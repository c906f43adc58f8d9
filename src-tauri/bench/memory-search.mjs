// What searching leaves in the app's memory (run by src-tauri/bench/memory.sh, in its session): starts the
// app (APP_BIN) under WebKitWebDriver, waits SETTLE seconds idle and prints the PSS of the app and its
// descendants; then, from the window, runs each query of the file QUERIES (one a line) through the command
// the search box calls (plugin:history|search_messages) and asks for its next page too ("More results"), and
// prints the PSS again 5 s later (the history empties its page cache 2 s after the last search). Each table
// ends with a `total_kb=N` line for the script. WebDriver adds to the absolute figures (WebKit's automation),
// so what searching adds is the difference between the two.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { Driver, freePort, sleep } from '../tests/webdriver.mjs';

const settle = Number(process.env.SETTLE ?? 20);
const queries = readFileSync(process.env.QUERIES, 'utf8').split('\n').filter(Boolean);

const children = (pid) =>
  readdirSync(`/proc/${pid}/task`, { withFileTypes: true }).flatMap((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t.name}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
const tree = (pid) => [pid, ...children(pid).flatMap(tree)];
const pssKb = (pid) => Number(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);

/** Prints the PSS of `pid` and its descendants as memory.sh does, under `label`. */
function report(label, pid) {
  console.log(`${label}:`);
  let total = 0;
  for (const p of tree(pid)) {
    let kb = 0;
    let name = '?';
    try {
      kb = pssKb(p);
      name = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      // Gone meanwhile (a sandbox helper).
    }
    console.log(`  ${name.padEnd(24)} ${String(kb).padStart(8)} kB PSS`);
    total += kb;
  }
  console.log(`  ${'total'.padEnd(24)} ${String(total).padStart(8)} kB PSS (${(total / 1024).toFixed(1)} MiB)`);
  console.log(`total_kb=${total}`);
}

const port = await freePort();
const driver = spawn('WebKitWebDriver', [`--port=${port}`], {
  env: { ...process.env, TAURI_WEBVIEW_AUTOMATION: 'true' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const d = new Driver(`http://127.0.0.1:${port}`);
try {
  await d.start(process.env.APP_BIN);
  const [app] = children(driver.pid);
  if (!app) throw new Error('no app process under WebKitWebDriver');
  await sleep(settle * 1000);
  report(`p2pchat under WebDriver, idle ${settle} s`, app);

  const search = (query, before) =>
    d.runAsync(
      "const done = arguments[2]; window.__TAURI_INTERNALS__.invoke('plugin:history|search_messages', { query: arguments[0], before: arguments[1] }).then((page) => done({ hits: page.hits.length, next: page.next }), (e) => done({ error: JSON.stringify(e) }));",
      query,
      before,
    );
  const started = Date.now();
  let hits = 0;
  for (const query of queries) {
    const first = await search(query, null);
    if (first.error) throw new Error(`search "${query}": ${first.error}`);
    const second = first.next ? await search(query, first.next) : { hits: 0 };
    if (second.error) throw new Error(`search "${query}", next page: ${second.error}`);
    hits += first.hits + second.hits;
  }
  console.log(`${queries.length} searches and their next pages in ${((Date.now() - started) / 1000).toFixed(1)} s, ${hits} hits`);
  await sleep(5000);
  report(`p2pchat under WebDriver, 5 s after the searches`, app);
} finally {
  await d.call('DELETE', d.session ?? '/session/none').catch(() => undefined);
  driver.kill();
}
