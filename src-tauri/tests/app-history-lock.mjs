// The app's encrypted history on a device with no keyring (a session D-Bus without a Secret Service:
// keyring-session.sh with P2PCHAT_NO_KEYRING=1), through WebDriver, on a plain history seeded as the
// release before encryption left it:
//   1. the window asks to choose a passphrase; a short one and two that differ are refused with the
//      reason; a good one encrypts the stored history in place and the start screen lists its
//      conversations (the file no longer holds a SQLite header or its schema in clear; history-sql with
//      the passphrase counts every seeded message);
//   2. started again: it asks for the passphrase; a wrong one is refused and changes no byte of the file;
//      the right one lists the conversations again;
//   3. started again: "Start a new history" keeps the locked file aside (history.sqlite3.locked-<ms>,
//      byte for byte) and asks to choose a passphrase for the new, empty history; one is chosen, "Ring me
//      when the window is closed" turned on, and the app quits from its tray;
//   4. started again: once the passphrase is given, the saved "Ring me when the window is closed" holds at
//      once, without a restart: closing the window hides it and the app keeps running; it quits from the
//      tray.
// Env: APP_BIN, WORK, DB (the app's history file), HISTORY_SQL (examples/history-sql), MESSAGES (seeded).
// Prints PASS/FAIL lines; exit code 1 on any failure. Bounded in time; stops the driver and app it started.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { alive, appPid, clickTray, closeWindow, mapped, until } from './desktop.mjs';
import { checks, sleep, withApp } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const db = process.env.DB;
const passphrase = 'correct horse battery staple';
const { pass, fail, exit } = checks();

/** The screen as a person sees it (X11; WebDriver's own screenshot may not return on this page). */
const shot = (file) => execFileSync('import', ['-window', 'root', file]);
const one = async (d, css) => (await d.waitFor(css, { timeoutMs: 30000 }))[0];
const state = async (d) => d.attr(await one(d, '[data-testid="history-unlock"]'), 'data-state');
/** Submits the form and returns the error it shows (or '' once the lock screen is gone). */
async function submit(d, fields) {
  for (const [css, text] of fields) await d.type(await one(d, css), text);
  await d.click(await one(d, '[data-testid="history-unlock-button"]'));
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const errors = await d.all('[data-testid="history-unlock-error"]');
    if (errors.length) return d.text(errors[0]);
    if (!(await d.all('[data-testid="history-unlock"]')).length) return '';
    await new Promise((r) => setTimeout(r, 200));
  }
  return 'no answer within 30 s';
}
/** Quits the app `pid` with "Quit" in its tray menu (closing its window may only hide it). */
async function quitFromTray(pid, when) {
  const clicked = pid && (await until(() => clickTray(pid, 'Quit'), 10000));
  if (clicked && (await until(() => !alive(pid), 15000))) pass(`"Quit" in the tray ends the app ${when}`);
  else fail(`quitting from the tray ${when}: pid ${pid}, menu clicked ${clicked}, alive ${pid && alive(pid)}`);
}
const clearInputs = (d) => d.run("document.querySelectorAll('input[type=password]').forEach((i) => { i.value = ''; i.dispatchEvent(new Event('input')); });");

await withApp('choose a passphrase', `${work}/webdriver-lock-1.log`, 120000, fail, async (d) => {
  if ((await state(d)) === 'choose_passphrase') pass('no keyring: the window asks to choose a passphrase');
  else return fail(`lock screen state "${await state(d)}"`);
  shot(`${work}/app-history-choose.png`);
  const short = await submit(d, [['[data-testid="passphrase-input"]', 'short'], ['[data-testid="passphrase-repeat"]', 'short']]);
  await clearInputs(d);
  const differ = await submit(d, [['[data-testid="passphrase-input"]', passphrase], ['[data-testid="passphrase-repeat"]', `${passphrase}!`]]);
  await clearInputs(d);
  if (/at least \d+ characters/.test(short) && /differ/.test(differ)) pass(`refused: "${short}" / "${differ}"`);
  else fail(`short / differing passphrases: "${short}" / "${differ}"`);
  const done = await submit(d, [['[data-testid="passphrase-input"]', passphrase], ['[data-testid="passphrase-repeat"]', passphrase]]);
  const rooms = await d.waitFor('[data-testid="conversation"]', { timeoutMs: 30000 });
  if (!done && rooms.length) pass(`passphrase chosen: the start screen lists ${rooms.length} stored conversations`);
  else fail(`after choosing: error "${done}", ${rooms.length} conversations`);
});

const bytes = readFileSync(db);
if (bytes.subarray(0, 15).toString() !== 'SQLite format 3' && !bytes.includes('CREATE TABLE')) {
  pass(`${basename(db)} is encrypted (${bytes.length} bytes, no SQLite header, no schema in clear)`);
} else {
  fail(`${db} still looks like a plain SQLite file`);
}
const counted = execFileSync(process.env.HISTORY_SQL, ['--db', db, '--passphrase', passphrase, 'SELECT count(*) FROM messages']).toString().trim();
if (counted === process.env.MESSAGES) pass(`history-sql with the passphrase counts all ${counted} seeded messages`);
else fail(`history-sql counts ${counted} messages, seeded ${process.env.MESSAGES}`);

await withApp('enter the passphrase', `${work}/webdriver-lock-2.log`, 120000, fail, async (d) => {
  if ((await state(d)) === 'enter_passphrase') pass('started again: the window asks for the passphrase');
  else return fail(`lock screen state "${await state(d)}"`);
  const before = readFileSync(db);
  const wrong = await submit(d, [['[data-testid="passphrase-input"]', 'not the passphrase']]);
  shot(`${work}/app-history-wrong.png`);
  if (/does not open/.test(wrong) && readFileSync(db).equals(before)) pass(`a wrong passphrase: "${wrong}", the file unchanged`);
  else fail(`wrong passphrase: "${wrong}"`);
  await clearInputs(d);
  const right = await submit(d, [['[data-testid="passphrase-input"]', passphrase]]);
  const rooms = await d.waitFor('[data-testid="conversation"]', { timeoutMs: 30000 });
  if (!right && rooms.length) pass(`the right passphrase opens it: ${rooms.length} conversations`);
  else fail(`right passphrase: error "${right}", ${rooms.length} conversations`);
});

await withApp('start a new history', `${work}/webdriver-lock-3.log`, 120000, fail, async (d) => {
  const locked = readFileSync(db);
  await d.click(await one(d, '[data-testid="start-new-ask"]'));
  const confirm = await one(d, '[data-testid="start-new-history"]');
  shot(`${work}/app-history-start-new.png`);
  await d.click(confirm);
  await d.waitAnyText('[data-testid="history-unlock"] h1', (t) => /Protect/.test(t), 30000);
  const aside = readdirSync(dirname(db)).filter((n) => /^history\.sqlite3\.locked-\d+$/.test(n));
  const kept = aside.length === 1 && readFileSync(join(dirname(db), aside[0])).equals(locked);
  if (kept && (await state(d)) === 'choose_passphrase') pass(`new history: the locked file kept as ${aside[0]}, a passphrase asked for the new one`);
  else fail(`start a new history: kept ${JSON.stringify(aside)} (${kept}), state "${await state(d)}"`);
  const chosen = await submit(d, [['[data-testid="passphrase-input"]', passphrase], ['[data-testid="passphrase-repeat"]', passphrase]]);
  if (chosen) return fail(`choosing the new history's passphrase: "${chosen}"`);
  await d.click(await one(d, '[data-testid="tray-toggle"]'));
  await quitFromTray(await appPid(), 'with "Ring me when the window is closed" turned on');
});

await withApp('settings after unlocking', `${work}/webdriver-lock-4.log`, 120000, fail, async (d) => {
  const right = await submit(d, [['[data-testid="passphrase-input"]', passphrase]]);
  const [toggle] = await d.waitFor('[data-testid="tray-toggle"]', { timeoutMs: 30000 });
  const on = toggle && (await d.call('GET', d.s(`/element/${d.id(toggle)}/property/checked`)));
  if (right || !on) return fail(`unlocking: error "${right}", "Ring me when the window is closed" shown on: ${on}`);
  // The setting was read from the history just unlocked: it applies now, as at a start.
  const pid = await appPid();
  closeWindow(pid);
  const hidden = await until(() => !mapped(pid), 10000);
  await sleep(1000);
  if (hidden && alive(pid)) pass('unlocked: the saved "Ring me when the window is closed" holds at once: closing the window hides it, the app keeps running');
  else return fail(`after unlocking, closing the window: hidden ${hidden}, process alive ${alive(pid)}`);
  await quitFromTray(pid, 'after unlocking');
});

exit();
