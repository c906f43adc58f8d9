// Drives the headless CLI peer `p2pchat-peer` (src-tauri/core/examples/p2pchat-peer.rs) from the e2e tests and
// the data-channel benchmark: starts it against a server, collects the JSON lines it prints, and types
// chat lines on its stdin. Stopped by its own PID.

import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { TIMEOUT, stopProcess, targetDir } from './lib.mjs';

export const peerBin = process.env.P2PCHAT_PEER_BIN ?? path.join(targetDir, 'debug/examples/p2pchat-peer');

/** Starts a CLI peer in `room`; `events` holds every line it printed, parsed. */
export async function startPeer(baseUrl, room, name, args = [], { bin = peerBin } = {}) {
  const child = spawn(bin, ['--server', baseUrl, '--room', room, '--name', name, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.E2E_VERBOSE ? (process.env.RUST_LOG ?? 'info') : 'warn' },
  });
  const events = [];
  const waiters = new Set();
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    events.push(event);
    for (const waiter of waiters) waiter();
  });
  const stderr = [];
  child.stderr.on('data', (d) => {
    stderr.push(d);
    if (process.env.E2E_VERBOSE) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));

  /** Resolves with the first event matching `pred`; fails after a bounded wait, saying what it saw. */
  function waitFor(pred, what, ms = TIMEOUT) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = events.find(pred);
        if (!hit) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`CLI peer: ${what} did not happen within ${ms} ms; saw ${JSON.stringify(events.slice(-5))}; stderr: ${Buffer.concat(stderr).toString().slice(-2000)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  }

  /** Types a chat line; resolves with the message id the peer gave it. */
  async function say(text) {
    const before = events.length;
    child.stdin.write(`${text}\n`);
    const sent = await waitFor((e) => e.event === 'sent' && events.indexOf(e) >= before, `sending "${text}"`);
    return sent.id;
  }

  return { child, events, waitFor, say, exited, stop: () => stopProcess(child) };
}
