// The clients of tests/deploy/run.sh: two people keep a call's signaling session through nginx while
// docs/deploy/rolling-restart.sh restarts both signaling servers one after the other. Protects what the
// rolling restart promises (docs/operations.md, "Rolling restart"): each client is moved (close 1001) and
// resumes its session on the other server within seconds (same peer id, no gap in `seq`), nobody sees the other leave or
// gets an error, signals sent while it happens arrive once and in order, and a signal sent after the roll
// arrives.
//
// Real WebSocket clients of the protocol (docs/protocol.md) with Node's WebSocket (run with
// --experimental-websocket on Node 20), reconnecting with `resume` as the app does. Environment:
//   DEPLOY_WS_URL       the public address, nginx's (wss://10.0.0.5/ws)
//   DEPLOY_JWT_SECRET   file with the servers' JWT secret (tokens are minted here, as a login service would)
//   DEPLOY_METRICS      comma-separated metrics listeners of the servers (who holds which connection)
//   DEPLOY_ROLL         the command that rolls the servers (rolling-restart.sh 1 2), run through sh -c
// Every wait is bounded; exits 0 when every check passed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

const url = process.env.DEPLOY_WS_URL;
const secret = readFileSync(process.env.DEPLOY_JWT_SECRET, 'utf8').trim();
const metrics = process.env.DEPLOY_METRICS.split(',');
const ROOM = 'rolling';
const WAIT = 15_000;
/** The roll: two servers, each draining for at most SIGNALING_DRAIN_MS (10 s) and coming back. */
const ROLL_TIMEOUT = 120_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => console.log(`roll.mjs: [${new Date().toISOString().slice(11, 23)}] ${line}`);

/** An HS256 token for `sub`, valid for 10 minutes, for the test's room only. */
function token(sub) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 600, rooms: [ROOM] })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** Resolves when `pred()` holds, checked every 20 ms; fails after `ms` saying `what`. */
async function until(pred, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(20);
  }
}

/** One person: a signaling session that survives its connection, as the app keeps it. */
class Client {
  constructor(name) {
    this.name = name;
    this.frames = []; // every frame after a welcome, in arrival order
    this.welcomes = [];
    this.closes = []; // close codes of connections the server ended
    this.lastSeq = 0;
    this.ws = null;
    this.open = false;
    this.stopped = false;
  }

  /** Opens a connection and says hello (with `resume` once there is a session); resolves on its welcome. */
  connect() {
    const last = this.welcomes.at(-1);
    const hello = { type: 'hello', v: 1, name: this.name, token: token(this.name.toLowerCase()) };
    if (last) hello.resume = { session: last.session, last_seq: this.lastSeq, token: last.resume_token };
    const ws = new WebSocket(url);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      let welcomed = false;
      // A refused upgrade (nginx 502 while no server is up) does not always end in a close event: give up on
      // a connection without welcome after 5 s.
      const timer = setTimeout(() => {
        reject(new Error('no welcome within 5 s'));
        ws.close();
      }, 5000);
      ws.addEventListener('open', () => ws.send(JSON.stringify(hello)));
      ws.addEventListener('message', (ev) => {
        const frame = JSON.parse(ev.data);
        if (frame.type === 'welcome') {
          clearTimeout(timer);
          welcomed = true;
          this.welcomes.push(frame);
          this.lastSeq = frame.seq;
          this.open = true;
          resolve(frame);
          return;
        }
        if (typeof frame.seq === 'number' && frame.seq !== this.lastSeq + 1) {
          this.gaps = (this.gaps ?? []).concat(`${this.lastSeq} → ${frame.seq}`);
        }
        this.lastSeq = frame.seq ?? this.lastSeq;
        this.frames.push(frame);
      });
      ws.addEventListener('close', (ev) => {
        this.lastClose = `${ev.code} ${ev.reason}`;
        this.open = false;
        clearTimeout(timer);
        if (!welcomed) {
          reject(new Error(`connection closed (${ev.code}${this.lastError ? `, ${this.lastError}` : ''}) before welcome`));
          return;
        }
        if (this.stopped || ws !== this.ws) return;
        this.closes.push(ev.code);
        this.lastCloseOfSession = this.lastClose;
        this.reconnect();
      });
      ws.addEventListener('error', (ev) => { this.lastError = ev.message ?? ev.error?.message; }); // a close event follows
    });
  }

  /** After the server closed the connection: resume through the load balancer, retrying for a while. */
  async reconnect() {
    const start = Date.now();
    const deadline = start + 30_000;
    for (let attempt = 1; !this.stopped; attempt++) {
      await sleep(100 + Math.random() * 200 * Math.min(attempt, 5));
      try {
        const welcome = await this.connect();
        this.backMs = (this.backMs ?? []).concat(Date.now() - start);
        log(`${this.name}: closed with ${this.lastCloseOfSession}, back after ${Date.now() - start} ms and ${attempt} attempt(s) (resumed: ${welcome.resumed})`);
        return;
      } catch (err) {
        log(`${this.name}: reconnection attempt ${attempt} failed: ${err.message}`);
        if (Date.now() > deadline) {
          this.failure = `${this.name}: no reconnection within 30 s: ${err.message}`;
          return;
        }
      }
    }
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame matching `pred` (from index `from`); bounded wait. */
  async frame(pred, what, from = 0) {
    await until(() => this.frames.slice(from).some(pred), `${this.name}: ${what}`);
    return this.frames.slice(from).find(pred);
  }

  close() {
    this.stopped = true;
    this.ws?.close(1000);
  }
}

/** signaling_connections of each server (index = instance - 1). */
async function connectionsPerServer() {
  return Promise.all(metrics.map(async (m) => {
    const text = await (await fetch(`http://${m}/metrics`)).text();
    return Number(text.split('\n').find((l) => l.startsWith('signaling_connections '))?.split(' ')[1]);
  }));
}

/** Runs the roll command; resolves with its exit code (killed after ROLL_TIMEOUT). */
function roll() {
  const child = spawn('sh', ['-c', process.env.DEPLOY_ROLL], { stdio: ['ignore', 'inherit', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGTERM'), ROLL_TIMEOUT);
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    clearTimeout(timer);
    resolve(code ?? signal);
  }));
}

const started = Date.now();
const alice = new Client('Alice');
const bob = new Client('Bob');
try {
  const aliceWelcome = await alice.connect();
  alice.send({ type: 'join', room: ROOM });
  await alice.frame((f) => f.type === 'joined', 'joined');
  const bobWelcome = await bob.connect();
  bob.send({ type: 'join', room: ROOM });
  await bob.frame((f) => f.type === 'joined' && f.peers.some((p) => p.peer === aliceWelcome.peer), 'joined with Alice listed');
  await alice.frame((f) => f.type === 'peer-joined' && f.peer === bobWelcome.peer, 'peer-joined Bob');
  assert.ok(aliceWelcome.ice_servers.some((s) => s.username && s.credential), 'welcome carries TURN credentials (turn-secret credential)');

  // The call: Alice rings, Bob accepts.
  alice.send({ type: 'signal', room: ROOM, to: bobWelcome.peer, data: { kind: 'invite', call: 'c1', media: ['audio', 'video'] } });
  await bob.frame((f) => f.type === 'signal' && f.data.kind === 'invite', 'the invite');
  bob.send({ type: 'signal', room: ROOM, to: aliceWelcome.peer, data: { kind: 'accept', call: 'c1' } });
  await alice.frame((f) => f.type === 'signal' && f.data.kind === 'accept', 'the accept');
  console.log(`roll.mjs: call set up; connections per server before the roll: ${await connectionsPerServer()}`);

  // While the servers roll, both keep signalling (as ICE candidates and stats would): numbered signals,
  // sent only while connected (the app queues them meanwhile).
  const sent = { Alice: 0, Bob: 0 };
  let ticking = true;
  const ticker = (async () => {
    while (ticking) {
      for (const [from, to, toPeer] of [[alice, bob, bobWelcome.peer], [bob, alice, aliceWelcome.peer]]) {
        if (from.open) from.send({ type: 'signal', room: ROOM, to: toPeer, data: { kind: 'tick', n: ++sent[from.name] } });
      }
      await sleep(200);
    }
  })();
  const rollStart = Date.now();
  const code = await roll();
  assert.equal(code, 0, `the rolling restart exits 0 (got ${code})`);
  console.log(`roll.mjs: rolling restart done in ${((Date.now() - rollStart) / 1000).toFixed(1)} s`);
  await until(() => alice.open && bob.open, 'both clients connected after the roll');
  ticking = false;
  await ticker;
  console.log(`roll.mjs: connections per server after the roll: ${await connectionsPerServer()}`);

  // A signal sent after the roll arrives, both ways.
  const aliceFrom = alice.frames.length;
  const bobFrom = bob.frames.length;
  alice.send({ type: 'signal', room: ROOM, to: bobWelcome.peer, data: { kind: 'offer', sdp: 'after the roll' } });
  await bob.frame((f) => f.type === 'signal' && f.data.sdp === 'after the roll', 'the offer sent after the roll', bobFrom);
  bob.send({ type: 'signal', room: ROOM, to: aliceWelcome.peer, data: { kind: 'answer', sdp: 'after the roll' } });
  await alice.frame((f) => f.type === 'signal' && f.data.sdp === 'after the roll', 'the answer sent after the roll', aliceFrom);

  for (const [me, welcome] of [[alice, aliceWelcome], [bob, bobWelcome]]) {
    assert.equal(me.failure, undefined);
    assert.ok(me.closes.length >= 1, `${me.name} was moved at least once by the roll (closes: ${me.closes})`);
    assert.ok(me.closes.every((c) => c === 1001), `${me.name}'s connections were closed with 1001 (going away): ${me.closes}`);
    const resumes = me.welcomes.slice(1);
    assert.equal(resumes.length, me.closes.length, `${me.name} reconnected once per close`);
    for (const w of resumes) {
      assert.equal(w.resumed, true, `${me.name}'s session resumed`);
      assert.equal(w.peer, welcome.peer, `${me.name} kept its peer id`);
    }
    assert.equal(me.gaps, undefined, `${me.name} saw no gap in seq`);
    // Signaling pauses only for the reconnection itself (nginx takes a restarted server back at once).
    assert.ok(me.backMs.every((ms) => ms < 5000), `${me.name} was back within 5 s each time: ${me.backMs} ms`);
    const bad = me.frames.filter((f) => f.type === 'peer-left' || f.type === 'error');
    assert.deepEqual(bad, [], `${me.name} saw nobody leave and no error`);
    const joins = me.frames.filter((f) => f.type === 'peer-joined').length;
    assert.equal(joins, me === alice ? 1 : 0, `${me.name} saw nobody (re)join: only Bob's first join`);
    const ticks = me.frames.filter((f) => f.type === 'signal' && f.data.kind === 'tick').map((f) => f.data.n);
    assert.deepEqual(ticks, [...ticks].sort((a, b) => a - b), `${me.name}'s signals arrived in order`);
    assert.equal(new Set(ticks).size, ticks.length, `${me.name}'s signals arrived once each`);
    const other = me === alice ? 'Bob' : 'Alice';
    console.log(`roll.mjs: ${me.name}: moved ${me.closes.length}×, resumed as ${welcome.peer.slice(0, 8)}…, ` +
      `received ${ticks.length} of ${sent[other]} signals ${other} sent during the roll`);
  }
  console.log(`roll.mjs: ok in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  alice.close();
  bob.close();
}
