// The desktop around the app under Xvfb, as a person and a window manager see it: the app's X windows,
// closing one as a window manager does (WM_DELETE_WINDOW), input focus moving to another program, and its
// tray menu (the app's com.canonical.dbusmenu object on the session D-Bus, clicked as a panel does). Used by
// the app's tests (app-*.mjs). TRAY_DEBUG=1 prints failed helper commands.
import { execFileSync, spawnSync } from 'node:child_process';
import { sleep } from './webdriver.mjs';

export { alive } from './webdriver.mjs';

const debug = (...a) => process.env.TRAY_DEBUG && console.error('debug:', ...a);
const run = (cmd, args) => {
  const out = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 });
  if (out.status) debug(cmd, args.join(' '), out.stderr);
  return out.stdout ?? '';
};
export async function until(pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await pred();
    if (value || Date.now() > deadline) return value;
    await sleep(300);
  }
}

/** The person switches to another program: X input focus leaves the app's window (no window manager here). */
export function focusElsewhere() {
  const script = [
    'import ctypes',
    "x = ctypes.CDLL('libX11.so.6')",
    'x.XOpenDisplay.restype = ctypes.c_void_p',
    'd = ctypes.c_void_p(x.XOpenDisplay(None))',
    'x.XSetInputFocus(d, 0, 0, 0)  # focus None, RevertToNone, CurrentTime',
    'x.XCloseDisplay(d)',
  ].join('\n');
  execFileSync('python3', ['-c', script]);
}

/** The app's top-level X windows ("p2pchat"), each `{id, pid, mapped}`. */
export function appWindows() {
  return [...run('xwininfo', ['-root', '-tree']).matchAll(/^\s*(0x[0-9a-f]+) "p2pchat":/gm)].map(([, id]) => ({
    id,
    pid: Number(run('xprop', ['-id', id, '_NET_WM_PID']).match(/= (\d+)/)?.[1] ?? 0),
    mapped: /Map State: IsViewable/.test(run('xwininfo', ['-id', id])),
  }));
}
export const windowOf = (pid) => appWindows().find((w) => w.pid === pid && w.id);
export const mapped = (pid) => appWindows().some((w) => w.pid === pid && w.mapped);

/** The window manager's close button: WM_DELETE_WINDOW to every top-level window of `pid`. */
export function closeWindow(pid) {
  const ids = appWindows()
    .filter((w) => w.pid === pid)
    .map((w) => w.id);
  const script = `
import ctypes, sys
x = ctypes.cdll.LoadLibrary('libX11.so.6')
x.XOpenDisplay.restype = ctypes.c_void_p
x.XInternAtom.restype = ctypes.c_ulong
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
x.XFlush.argtypes = [ctypes.c_void_p]
class ClientMessage(ctypes.Structure):
    _fields_ = [('type', ctypes.c_int), ('serial', ctypes.c_ulong), ('send_event', ctypes.c_int),
                ('display', ctypes.c_void_p), ('window', ctypes.c_ulong), ('message_type', ctypes.c_ulong),
                ('format', ctypes.c_int), ('l', ctypes.c_long * 5), ('pad', ctypes.c_long * 12)]
d = x.XOpenDisplay(None)
for w in sys.argv[1:]:
    e = ClientMessage(type=33, window=int(w, 16), message_type=x.XInternAtom(d, b'WM_PROTOCOLS', 0), format=32)
    e.l[0] = x.XInternAtom(d, b'WM_DELETE_WINDOW', 0)
    x.XSendEvent(d, int(w, 16), 0, 0, ctypes.byref(e))
x.XFlush(d)
`;
  execFileSync('python3', ['-c', script, ...ids]);
  return ids.length;
}

const bus = (...args) => run('gdbus', ['call', '--session', ...args]);

/** Clicks `label` in the tray menu of `pid`: its dbusmenu object's `Event(id, "clicked")`, as a panel does. */
export function clickTray(pid, label) {
  const names = [...bus('--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.ListNames').matchAll(/'(:[0-9.]+)'/g)].map((m) => m[1]);
  for (const name of names) {
    const owner = bus('--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.GetConnectionUnixProcessID', name);
    if (Number(owner.match(/uint32 (\d+)/)?.[1]) !== pid) continue;
    const tree = run('gdbus', ['introspect', '--session', '--dest', name, '--object-path', '/', '--recurse']);
    for (const [, path] of tree.matchAll(/node (\/\S*\/Menu) \{/g)) {
      const layout = bus('--dest', name, '--object-path', path, '--method', 'com.canonical.dbusmenu.GetLayout', '0', 'int32 -1', '@as []');
      const item = layout.match(new RegExp(`\\((\\d+), \\{[^}]*'label': <'${label}'>`));
      if (!item) continue;
      bus('--dest', name, '--object-path', path, '--method', 'com.canonical.dbusmenu.Event', item[1], 'clicked', '<0>', '0');
      return true;
    }
  }
  return false;
}

/** The app process WebKitWebDriver started: the owner of the "p2pchat" window. */
export async function appPid() {
  return until(() => appWindows().find((w) => w.mapped)?.pid, 30000);
}
