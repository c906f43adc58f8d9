// Debian's Janus 1.1 for end-to-end tests, started by janus.sh with the shipped configuration
// (docs/deploy/janus: videoroom only; HTTP API and admin API for the signaling server, WebSocket transport
// for browsers; token_auth, api_secret, admin_secret, videoroom admin_key) on 127.0.0.1 in a fresh temporary
// folder, and stopped by its PID. The Rust tests start it through the same script
// (signaling-server/tests/common/janus_process.rs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './lib.mjs';

const startScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'janus.sh');

export const API_SECRET = 'e2e-janus-api-secret-0123456789abc';
export const ADMIN_SECRET = 'e2e-janus-admin-secret-0123456789ab';
export const ROOM_ADMIN_KEY = 'e2e-janus-room-admin-key-0123456789';

/** What Janus logs once each of its listeners is up ({http}: the API's port). */
const JANUS_UP = ['WebSockets thread started', 'HTTP webserver started (port {http},', 'Admin/monitor HTTP webserver started'];

/**
 * Starts Janus on free loopback ports (others if one was taken meanwhile). Returns its URLs, `serverArgs`
 * (the signaling server's --sfu-* flags, secrets included, health checks every 500 ms), its `pid`,
 * `kill()` (SIGKILL: a crash) and `stop()` (also removes its folder). `rtpPorts` narrows the media ports.
 */
export async function startJanus({ rtpPorts = '20000-40000' } = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const janus = await tryStart(rtpPorts);
    if (janus) return janus;
  }
  throw new Error('janus could not listen on free ports 5 times');
}

async function tryStart(rtpPorts) {
  const [httpPort, adminPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pchat-janus-'));
  const logFile = path.join(dir, 'janus.log');
  const log = fs.openSync(logFile, 'w');
  // janus.sh execs janus: this child is Janus itself.
  const args = [dir, httpPort, adminPort, wsPort, API_SECRET, ADMIN_SECRET, ROOM_ADMIN_KEY, rtpPorts].map(String);
  const child = spawn(startScript, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = fs.readFileSync(logFile, 'latin1');
    // A taken port: try others (Janus runs on without the transport that could not listen, so this is
    // checked first). Anything else that stops it (no janus, a shipped file janus.sh no longer fits)
    // fails the test with the log.
    const portTaken = text.includes('No WebSockets server started') || text.includes("Couldn't start");
    if (!portTaken && JANUS_UP.every((line) => text.includes(line.replace('{http}', httpPort)))) break;
    if (child.exitCode !== null || portTaken || Date.now() > deadline) {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
      if (portTaken) return null;
      throw new Error(`janus did not start (tests/e2e/janus.sh):\n${text}`);
    }
    await sleep(50);
  }
  const apiUrl = `http://127.0.0.1:${httpPort}/janus`;
  const adminUrl = `http://127.0.0.1:${adminPort}/admin`;
  const wsUrl = `ws://127.0.0.1:${wsPort}`;
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  return {
    pid: child.pid,
    dir,
    logFile,
    apiUrl,
    adminUrl,
    wsUrl,
    serverArgs: [
      '--sfu-url', apiUrl, '--sfu-admin-url', adminUrl, '--sfu-public-url', wsUrl,
      '--sfu-api-secret', API_SECRET, '--sfu-admin-secret', ADMIN_SECRET, '--sfu-room-admin-key', ROOM_ADMIN_KEY,
      '--sfu-health-ms', '500',
    ],
    kill,
    stop: async () => {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
