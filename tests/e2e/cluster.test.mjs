// Two signaling servers sharing a Redis, behind one address: Debian's nginx on loopback with the
// deployment's own proxy settings (docs/deploy/nginx/p2pchat-proxy.conf: WebSocket upgrade, no
// stickiness). Two people, each on a different server, chat both ways and call each other, as on one server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  callState, decodedFrames, freePort, joinAs, launchBrowser, repo, reportOnFailure, sendChat, sleep, startServer,
  stopProcess, waitForMessage, waitForPeers, waitForPhase, waitForPort, waitForRemoteVideos,
} from './lib.mjs';

let redis;
let servers = [];
let nginx;
let browser;
let dir;

/** Debian's redis-server on a free loopback port, without persistence. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  child.on('error', (e) => { throw new Error(`cannot run redis-server (Debian package redis-server): ${e.message}`); });
  await waitForPort(port);
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopProcess(child) };
}

/** Debian's nginx on a free loopback port in front of `upstreamPorts`, with the deployment's proxy settings. */
async function startNginx(upstreamPorts) {
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  // The main block shared with tests/deploy/run.sh (tests/e2e/nginx-main.conf) around this test's upstreams.
  const http = `
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream p2pchat {
${upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    include ${path.join(repo, 'docs/deploy/nginx/p2pchat-proxy.conf')};
  }`;
  const main = readFileSync(path.join(repo, 'tests/e2e/nginx-main.conf'), 'utf8');
  writeFileSync(conf, main.replaceAll('@DIR@', dir).replace('@HTTP@', () => http));
  const child = spawn('nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('error', (e) => { throw new Error(`cannot run nginx (Debian package nginx): ${e.message}`); });
  await waitForPort(port);
  return { url: `http://127.0.0.1:${port}`, stop: () => stopProcess(child) };
}

/** Open WebSocket connections of each server (from its metrics listener). */
async function connectionsPerServer() {
  return Promise.all(servers.map(async (s) => {
    const text = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('signaling_connections '));
    return Number(line?.split(' ')[1] ?? NaN);
  }));
}

async function waitForConnections(total) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const counts = await connectionsPerServer();
    if (counts.reduce((a, b) => a + b, 0) === total) return counts;
    if (Date.now() > deadline) throw new Error(`expected ${total} connections over the servers, have ${counts}`);
    await sleep(100);
  }
}

/**
 * Alice, then Bob on the other server. The balancer has no stickiness: it hands each request to the next
 * server in turn, so where a page's WebSocket lands depends on the requests before it. If Bob lands on
 * Alice's server, one more request through the balancer shifts the turn and Bob opens the app again.
 */
async function pairOnTwoServers(room) {
  const alice = await joinAs(browser, nginx.url, 'Alice', room);
  const aliceOn = (await waitForConnections(1)).indexOf(1);
  for (let attempt = 0; attempt < 8; attempt++) {
    const bob = await joinAs(browser, nginx.url, 'Bob', room);
    const counts = await waitForConnections(2);
    if (counts[aliceOn] === 1) {
      await waitForPeers(alice, 1);
      await waitForPeers(bob, 1);
      // Earlier attempts (same server as Alice) have left the room by now: only Bob is listed.
      await alice.waitForFunction(() => document.querySelectorAll('[data-testid="presence-item"]').length === 1);
      return [alice, bob];
    }
    await bob.context().close();
    await waitForConnections(1);
    await fetch(`${nginx.url}/healthz`);
  }
  throw new Error('Bob never reached the other server through the balancer');
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'p2pchat-cluster-'));
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    const metricsPort = await freePort();
    const server = await startServer({
      args: [
        '--redis-url', redis.url, '--trusted-proxy', '127.0.0.1', '--metrics-bind', `127.0.0.1:${metricsPort}`,
        // Bob's pages that landed on Alice's server leave the room soon after they close.
        '--resume-grace-ms', '1500',
      ],
    });
    servers.push({ ...server, metricsPort });
  }
  nginx = await startNginx(servers.map((s) => s.port));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await nginx?.stop();
  for (const server of servers) await server.stop();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('two people on different servers behind one address chat both ways', reportOnFailure(async () => {
  const [alice, bob] = await pairOnTwoServers('cluster-chat');
  assert.match(await alice.getByTestId('presence-item').textContent(), /^\s*Bob\b/);
  await sendChat(alice, 'Hi Bob, from the other server');
  await waitForMessage(bob, 'Hi Bob, from the other server');
  await waitForMessage(alice, 'Hi Bob, from the other server', 'delivered');
  await sendChat(bob, 'Hello Alice');
  await waitForMessage(alice, 'Hello Alice');
  await waitForMessage(bob, 'Hello Alice', 'delivered');
  await alice.context().close();
  await bob.context().close();
}));

test('two people on different servers behind one address call each other', reportOnFailure(async () => {
  const [alice, bob] = await pairOnTwoServers('cluster-call');
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('incoming-call').waitFor();
  assert.match(await bob.getByTestId('incoming-call').textContent(), /Alice is calling/);
  await bob.getByTestId('accept-button').click();
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);
  assert.equal(await callState(alice), 'active');
  const frames = (await decodedFrames(bob))[0];
  await sleep(1000);
  assert.ok((await decodedFrames(bob))[0] > frames, 'video keeps arriving');
  await alice.getByTestId('hangup-button').click();
  await waitForPhase(bob, 'idle');
  await alice.context().close();
  await bob.context().close();
}));
