// Drives the real app's window through WebDriver against a signaling server that requires tokens
// (--auth-secret; AUTH_SERVER is its ws:// address, AUTH_SECRET its secret) and checks that a person gets in
// with an invitation:
//   1. a fresh app (no settings) with no token: the join screen says an invitation is needed (join-error);
//      pasting the invite link into the Invitation field fills server, room and name, and joining connects;
//   2. started again, the app presents the token it saved for that server: joining with an empty
//      Invitation field connects;
//   3. a fresh app opened with the deep link p2pchat://join#room=…&token=…&server=… has the join screen
//      filled from it, and joining connects.
// Usage: node app-invite.mjs ; env APP_BIN, WORK, AUTH_SERVER, AUTH_SECRET. Prints PASS/FAIL lines; exit 1
// on any failure. Bounded in time; stops the driver and app it started.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { checks, withApp } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const server = process.env.AUTH_SERVER;
const origin = server.replace(/^ws/, 'http').replace(/\/ws$/, '');
const { pass, fail, exit } = checks();

/** An HS256 JWT signed with the server's secret, valid for an hour. */
function token(claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac('sha256', process.env.AUTH_SECRET).update(body).digest('base64url')}`;
}

const value = async (d, testid) => {
  const [el] = await d.waitFor(`[data-testid="${testid}"]`, { timeoutMs: 30000 });
  return el ? d.call('GET', d.s(`/element/${d.id(el)}/property/value`)) : '(missing)';
};

/** Sets an input as a paste does (one input event). */
async function paste(d, testid, text) {
  await d.run(
    "const el = document.querySelector(`[data-testid=\"${arguments[0]}\"]`); el.value = arguments[1]; el.dispatchEvent(new Event('input', { bubbles: true }));",
    testid,
    text,
  );
}

async function joinAndWait(d) {
  await d.click((await d.waitFor('[data-testid="join-button"]'))[0]);
  const state = await d.waitText('[data-testid="connection-state"]', (t) => /^\s*connected/i.test(t), 30000);
  if (/^\s*connected/i.test(state)) {
    // Every room command reached the backend's client (none raced the connect): no failure banner.
    const banner = await d.waitText('[data-testid="command-failure"]', () => true, 1500);
    return banner.startsWith('(timed out') ? state : `${state}, but: ${banner}`;
  }
  // What the backend says, for the failure report.
  const backend = await d
    .runAsync("const done = arguments[0]; window.__TAURI_INTERNALS__.invoke('connection_state').then((r) => done(JSON.stringify(r)), (e) => done('error ' + JSON.stringify(e)));")
    .catch((err) => err.message);
  const failure = await d.waitText('[data-testid="command-failure"]', () => true, 500);
  return `${state}; backend: ${backend}; command failure: ${failure}`;
}

async function fresh(label, dir, args, body) {
  process.env.XDG_DATA_HOME = `${work}/${dir}`;
  process.env.APP_ARGS = JSON.stringify(args);
  await withApp(label, `${work}/app-invite-${label}.log`, 120_000, fail, body);
}

// 1. No token, then a pasted invite link.
await fresh('paste', 'invite-data', [], async (d) => {
  await d.waitFor('[data-testid="name-input"]', { timeoutMs: 30000 });
  await paste(d, 'server-input', server);
  await paste(d, 'name-input', 'Tester');
  await paste(d, 'room-input', 'invited');
  await d.click((await d.waitFor('[data-testid="join-button"]'))[0]);
  const refused = await d.waitText('[data-testid="join-error"]', (t) => /need an invitation/i.test(t), 30000);
  if (/need an invitation/i.test(refused)) pass(`without a token the join screen says: "${refused.trim()}"`);
  else fail(`no "invitation needed" error: ${refused}`);

  const jwt = token({ sub: 'tester', name: 'Invited Tester', rooms: ['invited'] });
  await paste(d, 'token-input', `${origin}/#room=invited&token=${jwt}`);
  const filled = { server: await value(d, 'server-input'), room: await value(d, 'room-input'), name: await value(d, 'name-input'), token: await value(d, 'token-input') };
  if (filled.server === server && filled.room === 'invited' && filled.name === 'Invited Tester' && filled.token === jwt) {
    pass('a pasted invite link fills server, room, name and the token');
  } else fail(`pasted link filled ${JSON.stringify(filled)}`);
  const state = await joinAndWait(d);
  if (/^connected$/i.test(state.trim())) pass('the app joined the auth server with the pasted invitation');
  else fail(`after the pasted invitation: ${state}`);
  // The app really is in the room: an invited Chromium page joining it shows up in the window.
  const { launchBrowser } = await import('../../tests/e2e/lib.mjs');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/#room=invited&token=${token({ sub: 'browser', name: 'Browser', rooms: 'invited' })}`);
    await page.getByTestId('join-button').click();
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 20000 });
    const seen = await d.waitAnyText('[data-testid="presence-name"]', (t) => t.includes('Browser'), 30000);
    if (seen.includes('Browser')) pass('an invited Chromium page joining the room is listed in the window');
    else fail(`the window does not list the page: ${seen}`);
  } finally {
    await browser.close();
  }
  // From the X server: WebKitWebDriver's screenshot can wait minutes for a frame (see app-ui.mjs).
  execFileSync('import', ['-window', 'root', `${work}/app-invite.png`]);
});

// 2. The token saved for the server is presented again after a restart.
await fresh('saved', 'invite-data', [], async (d) => {
  await d.waitFor('[data-testid="name-input"]', { timeoutMs: 30000 });
  if ((await value(d, 'server-input')) !== server) fail(`the saved server is not prefilled: ${await value(d, 'server-input')}`);
  await paste(d, 'room-input', 'invited');
  const state = await joinAndWait(d);
  if (/^connected$/i.test(state.trim())) pass('after a restart the app presents the token saved for the server');
  else fail(`with the saved token: ${state} ${await d.waitText('[data-testid="join-error"]', () => true, 1000)}`);
});

// 3. A deep link fills the join screen.
await fresh('deeplink', 'invite-deeplink-data', [`p2pchat://join#room=invited&token=${token({ sub: 'deep', name: 'Deep Link' })}&server=${origin}`], async (d) => {
  await d.waitFor('[data-testid="name-input"]', { timeoutMs: 30000 });
  const filled = { server: await value(d, 'server-input'), room: await value(d, 'room-input'), name: await value(d, 'name-input') };
  if (filled.server === server && filled.room === 'invited' && filled.name === 'Deep Link') pass('the p2pchat:// deep link fills server, room and name');
  else fail(`deep link filled ${JSON.stringify(filled)}`);
  const state = await joinAndWait(d);
  if (/^connected$/i.test(state.trim())) pass('the app joined with the deep link\'s token');
  else fail(`after the deep link: ${state}`);
});
exit();
