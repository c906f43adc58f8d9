// "Ring me when the window is closed" in the real app under Xvfb, with the tray and the login item as the
// desktop has them (a session D-Bus; the tray's menu is the app's com.canonical.dbusmenu object, which a
// panel shows and which this test clicks the same way; the window is closed as a window manager does, with
// a WM_DELETE_WINDOW message):
//   1. fresh device: the switch is off; turned on from the start screen (WebDriver), with "Start at login",
//      which writes the login item ($HOME/.config/autostart/p2pchat.desktop, starting the app with --hidden);
//      closing the window hides it and the process stays; a headless peer (examples/ring) still finds the
//      app in its room and rings it: the incoming-call notification is posted (Notify on D-Bus); "Open
//      p2pchat" in the tray brings the window back; "Quit" ends the process, having closed the history (no
//      SQLite WAL or -shm left beside it; after each quit below too);
//   2. the login item's command: the app starts with no window on screen, is in its room (alone under its
//      name: the app quit in 1 left the room as it ended), a peer rings it and the incoming-call
//      notification is posted (the window never shown), and it quits from the tray;
//      Starting it again meanwhile (the login item, the menu entry) starts no second app: the running one
//      keeps its window hidden, or shows it;
//   3. an invite link opened while the app runs (p2pchat://) fills the running window's join screen; turning
//      the switch off removes the login item, and closing the window quits again.
// TRAY_DEBUG=1 prints failed helper commands. Env: APP_BIN, RING_BIN, WORK, NOTIFY_LOG (the session's Notify capture), P2PCHAT_SERVER_URL, P2PCHAT_NAME,
// P2PCHAT_JOIN (one room), HOME (a scratch home). Prints PASS/FAIL lines; exit 1 on any failure. Bounded in
// time; stops what it started.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { alive, appPid, appWindows, clickTray, closeWindow, mapped, until, windowOf } from './desktop.mjs';
import { checks, sleep, withApp } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const room = process.env.P2PCHAT_JOIN;
const loginItem = `${process.env.HOME}/.config/autostart/p2pchat.desktop`;
const { pass, fail, exit } = checks();

/** Rings the app from a headless peer, which first has to find it in the room; true once it rang. */
let calls = 0;
/** How many sessions of the app's name the last ring found in the room. */
let ringSessions = 0;
function ring() {
  calls += 1;
  const out = spawnSync(process.env.RING_BIN, [process.env.P2PCHAT_SERVER_URL, room, process.env.P2PCHAT_NAME, `tray-call-${calls}`], { encoding: 'utf8', timeout: 60000 });
  ringSessions = Number(out.stdout?.match(/sessions=(\d+)/)?.[1] ?? 0);
  return out.status === 0 ? true : `${out.stdout}${out.stderr}`.trim();
}
const rang = () => (readFileSync(process.env.NOTIFY_LOG, 'utf8').match(/Incoming video call from Ringer/g) ?? []).length;

/** The app's history file; while it is open SQLite keeps a WAL and its index beside it. */
const db = `${process.env.XDG_DATA_HOME}/org.p2pchat.app/history.sqlite3`;
/** After the app ended `how`: the history is there and was closed cleanly (SQLite removed its WAL). */
function historyClosed(how) {
  const left = ['-wal', '-shm'].map((suffix) => db + suffix).filter(existsSync);
  if (!existsSync(db)) fail(`${how}: no history at ${db}`);
  else if (left.length) fail(`${how}: the history was not closed, left beside it: ${left.join(', ')}`);
  else pass(`${how}: the history was closed (no WAL or -shm beside ${db})`);
}

/** Starts the app binary again with `args` while one runs; its exit status and how long it ran. */
function secondStart(args) {
  const started = Date.now();
  const out = spawnSync(process.env.APP_BIN, args, { encoding: 'utf8', timeout: 20000, env: { ...process.env, RUST_LOG: 'info' } });
  return { status: out.status, signal: out.signal, ms: Date.now() - started, error: out.status === 0 ? undefined : `${out.stdout}${out.stderr}`.slice(-400) };
}

async function checkbox(d, testid) {
  const [box] = await d.waitFor(`[data-testid="${testid}"]`, { timeoutMs: 30000 });
  return box && { box, checked: () => d.call('GET', d.s(`/element/${d.id(box)}/property/checked`)) };
}

// 1. Turned on in the window, closed, rung, opened from the tray, quit from the tray.
await withApp('ring when closed', `${work}/app-tray-app.log`, 180_000, fail, async (d) => {
  const pid = await appPid();
  if (!pid) return fail('no app window');
  const tray = await checkbox(d, 'tray-toggle');
  if (!tray) return fail('no "Ring me when the window is closed" switch on the start screen');
  if ((await tray.checked()) === false && !existsSync(loginItem)) pass('off on a fresh device (no login item)');
  else fail('the switch is on, or a login item exists, on a fresh device');
  await d.click(tray.box);
  const login = await checkbox(d, 'login-toggle');
  if (login) await d.click(login.box);
  else fail('no "Start at login" switch once ringing when closed is on');
  const item = await until(() => existsSync(loginItem) && readFileSync(loginItem, 'utf8'), 10000);
  const exec = item && item.match(/^Exec=(.*)$/m)?.[1];
  if (exec && / --hidden\b/.test(exec) && (await tray.checked()) && (await login?.checked())) pass(`both on; login item: Exec=${exec}`);
  else fail(`login item ${loginItem}: ${JSON.stringify(item)}`);
  execFileSync('import', ['-window', 'root', `${work}/app-tray-settings.png`]);

  closeWindow(pid);
  const hidden = await until(() => !mapped(pid), 10000);
  await sleep(2000);
  if (hidden && alive(pid)) pass(`closing the window hides it; the app (pid ${pid}) keeps running`);
  else return fail(`after closing: window mapped ${mapped(pid)}, process alive ${alive(pid)}`);
  const before = rang();
  const rung = ring();
  if (rung === true) pass(`a headless peer found the app in ${room} with its window closed and rang it`);
  else fail(`ringing the closed app: ${rung}`);
  if (await until(() => rang() > before, 15000)) pass('the incoming-call notification was posted (Notify on D-Bus)');
  else fail(`no incoming-call notification (see ${process.env.NOTIFY_LOG})`);

  if (!clickTray(pid, 'Open p2pchat')) return fail('no "Open p2pchat" in the tray menu on D-Bus');
  if (await until(() => mapped(pid), 10000)) pass('"Open p2pchat" in the tray shows the window again');
  else fail('the window stayed hidden after "Open p2pchat"');
  if (!clickTray(pid, 'Quit')) return fail('no "Quit" in the tray menu');
  if (await until(() => !alive(pid), 15000)) pass('"Quit" in the tray ends the app');
  else return fail(`the app (pid ${pid}) still runs after "Quit"`);
  historyClosed('"Quit" in the tray');
});

// 2. As the login item starts it: hidden, in its room, rung, quit from the tray.
const exec = existsSync(loginItem) ? readFileSync(loginItem, 'utf8').match(/^Exec=(.*)$/m)?.[1] : null;
if (exec) {
  const [bin, ...args] = exec.trim().split(/\s+/);
  const log = `${work}/app-tray-login.log`;
  const out = openSync(log, 'w');
  const app = spawn(bin, args, { stdio: ['ignore', out, out], env: { ...process.env, RUST_LOG: 'info' } });
  try {
    const window = await until(() => windowOf(app.pid), 30000);
    await sleep(3000);
    if (window && !mapped(app.pid)) pass(`started as the login item does (${args.join(' ')}): no window on screen`);
    else fail(`login start: window ${JSON.stringify(window)} mapped ${mapped(app.pid)}`);
    const before = rang();
    const rung = ring();
    if (rung === true) pass('started at login, it is in its room: a headless peer found it and rang it');
    else fail(`ringing the app started at login: ${rung}`);
    // The app quit from the tray a moment ago left its room as it ended: only this one is there.
    if (ringSessions === 1) pass('the app quit a moment ago left its room at once: the ringer finds only the one started at login');
    else fail(`the ringer found ${ringSessions} sessions named ${process.env.P2PCHAT_NAME} (the quit app still listed?)`);
    if (await until(() => rang() > before, 15000)) pass('the app started at login, its window never shown, posted the incoming-call notification');
    else fail(`no incoming-call notification from the app started at login (see ${log})`);
    execFileSync('import', ['-window', 'root', `${work}/app-tray-hidden.png`]);
    // One app per session: the login item starting it again hands over and exits, the window stays hidden;
    // another start (the menu entry, a link) brings the running app's window up instead of a second app.
    const again = secondStart(args);
    if (again.status === 0 && alive(app.pid) && !mapped(app.pid) && appWindows().every((w) => w.pid === app.pid)) {
      pass(`a second start by the login item hands over to the running app and exits at once (${again.ms} ms); its window stays hidden`);
    } else {
      fail(`second start by the login item: ${JSON.stringify(again)}, first alive ${alive(app.pid)}, mapped ${mapped(app.pid)}, windows ${JSON.stringify(appWindows())}`);
    }
    const opened = secondStart([]);
    if (opened.status === 0 && (await until(() => mapped(app.pid), 10000)) && appWindows().every((w) => w.pid === app.pid)) {
      pass(`starting the app again while it runs shows the running app's window (the second start exited, ${opened.ms} ms)`);
    } else {
      fail(`second start from the menu: ${JSON.stringify(opened)}, window mapped ${mapped(app.pid)}, windows ${JSON.stringify(appWindows())}`);
    }
    if (clickTray(app.pid, 'Quit') && (await until(() => !alive(app.pid), 15000))) {
      pass('"Quit" in the tray ends the app started at login');
      historyClosed('"Quit" in the tray of the app started at login');
    } else fail('quitting the app started at login from the tray');
  } finally {
    if (alive(app.pid)) app.kill();
  }
} else {
  fail('no login item to start the app from');
}

// 3. Turned off: the login item goes, and closing the window quits.
await withApp('ring when closed off', `${work}/app-tray-off-app.log`, 120_000, fail, async (d) => {
  const pid = await appPid();
  const tray = await checkbox(d, 'tray-toggle');
  if (!pid || !tray) return fail('no window or switch on the second start');
  if (await tray.checked()) pass('the switch is still on after a restart');
  else fail('the switch was not kept');
  // An invite link opened while the app runs (the desktop starts the app with it) reaches this window.
  const linked = secondStart(['p2pchat://join#room=from-second-start']);
  const filled = await until(() => d.run('return document.querySelector(\'[data-testid="room-input"]\')?.value ?? null;').then((v) => v === 'from-second-start' && v), 10000);
  if (linked.status === 0 && filled && appWindows().every((w) => w.pid === pid)) pass('a p2pchat:// link opened while the app runs fills its join screen (room from-second-start); the second start exited');
  else fail(`p2pchat:// link while running: ${JSON.stringify(linked)}, room input ${filled}, windows ${JSON.stringify(appWindows())}`);
  await d.click(tray.box);
  if (await until(() => !existsSync(loginItem), 10000)) pass('turning it off removes the login item');
  else fail(`the login item stayed: ${loginItem}`);
  await sleep(500);
  closeWindow(pid);
  if (await until(() => !alive(pid), 15000)) pass('with the switch off, closing the window quits the app');
  else return fail(`the app (pid ${pid}) still runs after its window was closed`);
  historyClosed('closing the window');
});

exit();
