// The shipped Janus deployment files (docs/deploy/janus) as an operator would install them, with only what
// a test must change: Janus from the shipped .jcfg files (janus.mjs), Debian's nginx with janus-nginx.conf
// in front of its WebSocket transport, and a client over wss:// through nginx that needs a token the admin
// API added (as the signaling server adds one per participant); and Debian's janus.service with the shipped
// drop-in passes systemd-analyze verify.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startJanus, ADMIN_SECRET } from './janus.mjs';
import { freePort, repo, stopProcess, waitForPort } from './lib.mjs';

const shipped = path.join(repo, 'docs/deploy/janus');
let dir;
let janus;
let nginx;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pchat-janus-deploy-'));
  janus = await startJanus();
});

after(async () => {
  if (nginx) await stopProcess(nginx);
  await janus?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `text` with `from` replaced by `to`, failing if the shipped file no longer holds `from`. */
function change(text, from, to) {
  assert.ok(text.includes(from), `docs/deploy/janus/janus-nginx.conf no longer has "${from}": update this test`);
  return text.replaceAll(from, to);
}

test('clients reach Janus over wss:// through the shipped nginx server block, only with a token', async () => {
  // A certificate for 127.0.0.1 instead of Let's Encrypt's; a free loopback port instead of 443; Janus's
  // WebSocket port of this test instead of 8188.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', '/CN=sfu1.example.org', '-addext', 'subjectAltName=DNS:sfu1.example.org,IP:127.0.0.1',
    '-keyout', path.join(dir, 'privkey.pem'), '-out', path.join(dir, 'fullchain.pem')], { stdio: 'ignore' });
  const port = await freePort();
  let server = fs.readFileSync(path.join(shipped, 'janus-nginx.conf'), 'utf8');
  server = change(server, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
  server = change(server, 'listen [::]:443 ssl;', '');
  server = change(server, '/etc/letsencrypt/live/sfu1.example.org/', `${dir}/`);
  server = change(server, 'http://127.0.0.1:8188', `http://127.0.0.1:${new URL(janus.wsUrl).port}`);
  fs.writeFileSync(path.join(dir, 'janus-nginx.conf'), server);
  // The main block tests/deploy/run.sh and cluster.test.mjs run nginx in (pid, logs, temp files here).
  const main = fs.readFileSync(path.join(repo, 'tests/e2e/nginx-main.conf'), 'utf8');
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, main.replaceAll('@DIR@', dir).replace('@HTTP@', () => `include ${dir}/janus-nginx.conf;`));
  const nginxArgs = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf];
  execFileSync('nginx', ['-t', '-q', ...nginxArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  nginx = spawn('nginx', nginxArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port);

  // A token as the signaling server adds one for a participant (admin API, videoroom only).
  const token = 'deploy-test-token-0123456789';
  const added = await fetch(janus.adminUrl, {
    method: 'POST',
    body: JSON.stringify({ janus: 'add_token', token, plugins: ['janus.plugin.videoroom'], transaction: 't', admin_secret: ADMIN_SECRET }),
  }).then((r) => r.json());
  assert.equal(added.janus, 'success', JSON.stringify(added));

  // A client in a process of its own, trusting the test certificate (NODE_EXTRA_CA_CERTS is read at start).
  const client = path.join(dir, 'client.mjs');
  fs.writeFileSync(client, `
    const ask = (ws, request) => new Promise((resolve) => {
      ws.addEventListener('message', function answer(event) {
        const reply = JSON.parse(event.data);
        if (reply.transaction === request.transaction && reply.janus !== 'ack') {
          ws.removeEventListener('message', answer);
          resolve(reply);
        }
      });
      ws.send(JSON.stringify(request));
    });
    const ws = new WebSocket(process.argv[2], 'janus-protocol');
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('no wss connection')); });
    const withToken = await ask(ws, { janus: 'create', transaction: 'a', token: process.argv[3] });
    const without = await ask(ws, { janus: 'create', transaction: 'b' });
    console.log(JSON.stringify({ protocol: ws.protocol, withToken, without }));
    ws.close();
  `);
  const output = execFileSync(process.execPath, ['--experimental-websocket', '--no-warnings', client, `wss://127.0.0.1:${port}/`, token], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'fullchain.pem') },
    timeout: 20_000,
  });
  const { protocol, withToken, without } = JSON.parse(output.toString());
  assert.equal(protocol, 'janus-protocol', 'the subprotocol passes through nginx');
  assert.equal(withToken.janus, 'success', `a token's session: ${JSON.stringify(withToken)}`);
  assert.equal(without.janus, 'error', `no token, no session: ${JSON.stringify(without)}`);
  assert.equal(without.error.code, 403, JSON.stringify(without));
});

test("Debian's janus.service with the shipped drop-in passes systemd-analyze verify", () => {
  const debianUnit = '/lib/systemd/system/janus.service';
  assert.ok(fs.existsSync(debianUnit), `${debianUnit} is missing (Debian package janus)`);
  // The unit where systemd keeps it, the drop-in in janus.service.d/ beside it, as in /etc/systemd/system.
  const units = path.join(dir, 'units');
  fs.mkdirSync(path.join(units, 'janus.service.d'), { recursive: true });
  fs.copyFileSync(debianUnit, path.join(units, 'janus.service'));
  fs.copyFileSync(path.join(shipped, 'janus.service.d/p2pchat.conf'), path.join(units, 'janus.service.d/p2pchat.conf'));
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(units, 'janus.service')], { encoding: 'utf8' });
  assert.equal(verify.error, undefined, 'systemd-analyze runs (Debian package systemd)');
  // Warnings (unknown keys, bad values) fail too, not only errors.
  assert.equal(`${verify.stdout}${verify.stderr}`.trim(), '');
  assert.equal(verify.status, 0);
});
