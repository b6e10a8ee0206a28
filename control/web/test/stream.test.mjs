// Connection against a fake WebSocket: the first token is the page's, each reconnect mints
// a fresh one and asks for since=<next offset>, output and events are delivered once, a
// finished session is not reconnected, a used share link stops with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, FatalStreamError } from '../src/stream.js';
import { encodeOutput, encodeJson, T, decodeMessage } from '../src/proto.js';

const enc = (s) => new TextEncoder().encode(s);

class FakeWS {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 1;
    this.sent = [];
    FakeWS.all.push(this);
  }
  send(b) { this.sent.push(b); }
  close(code = 1006, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  recv(...frames) {
    const n = frames.reduce((a, f) => a + f.length, 0);
    const buf = new Uint8Array(n);
    let o = 0;
    for (const f of frames) { buf.set(f, o); o += f.length; }
    this.onmessage?.({ data: buf.buffer });
  }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

function make(overrides = {}) {
  FakeWS.all = [];
  const got = { out: '', events: [], statuses: [], exits: 0 };
  let minted = 0;
  const conn = new Connection({
    sessionId: 'abc',
    firstToken: 'tok0',
    mintToken: async () => `tok${++minted}`,
    WebSocketImpl: FakeWS,
    baseUrl: 'ws://test',
    random: () => 0,
    handlers: {
      onOutput: (parts) => { for (const p of parts) got.out += new TextDecoder().decode(p.data); },
      onEvent: (ev) => got.events.push(ev.stage || ev.type),
      onStatus: (s) => got.statuses.push(s),
      onExit: () => { got.exits++; },
    },
    ...overrides,
  });
  return { conn, got, minted: () => minted };
}

const hello = (bytes, state = 'running', role = 'writer') => encodeJson(T.HELLO, { v: 1, role, state, offset: 0, bytes });
const stage = (name) => encodeJson(T.EVENT, { type: 'stage', stage: name, state: 'running' });

test('reconnects with a fresh token from the next offset; nothing delivered twice', async () => {
  const { conn, got, minted } = make();
  conn.start();
  await tick();
  const ws1 = FakeWS.all[0];
  assert.equal(ws1.url, 'ws://test/ws/abc?since=0');
  assert.deepEqual(ws1.protocols, ['bearer', 'tok0']);
  ws1.recv(hello(0), stage('fetch'), encodeOutput(0, enc('hello ')));
  ws1.close(1006);
  assert.equal(conn.status, 'reconnecting');
  await tick(300);
  const ws2 = FakeWS.all[1];
  assert.equal(ws2.url, 'ws://test/ws/abc?since=6');
  assert.deepEqual(ws2.protocols, ['bearer', 'tok1']);
  assert.equal(minted(), 1);
  // control sends the event log from its start again, and here output from 0 again too
  ws2.recv(hello(11), stage('fetch'), stage('build'), encodeOutput(0, enc('hello world')));
  assert.equal(got.out, 'hello world');
  assert.deepEqual(got.events, ['fetch', 'build']);
  assert.equal(conn.duplicateEvents, 1);
  assert.equal(conn.status, 'live');
  conn.stop();
});

test('a finished session is not reconnected', async () => {
  const { conn, got } = make();
  conn.start();
  await tick();
  const ws = FakeWS.all[0];
  const exit = new Uint8Array(56);
  exit.set([0x52, 0x57, 1, T.EXIT]);
  new DataView(exit.buffer).setUint32(4, 48);
  new DataView(exit.buffer).setBigUint64(16, 2n);
  ws.recv(hello(2), encodeOutput(0, enc('ok')), exit);
  ws.close(1000);
  await tick(300);
  assert.equal(FakeWS.all.length, 1);
  assert.equal(conn.status, 'ended');
  assert.equal(got.exits, 1);
});

test('a token that can never be had stops the stream with its reason', async () => {
  const { conn } = make({
    firstToken: null,
    mintToken: async () => { throw new FatalStreamError('this read-only link was used already'); },
  });
  conn.start();
  await tick();
  assert.equal(conn.status, 'failed');
  assert.equal(FakeWS.all.length, 0);
});

test('a read-only viewer sends nothing; a writer sends input and resize frames', async () => {
  const { conn } = make();
  conn.start();
  await tick();
  const ws = FakeWS.all[0];
  ws.recv(hello(0, 'running', 'viewer'));
  assert.equal(conn.sendInput('x'), false);
  assert.equal(conn.sendResize(80, 24), false);
  assert.equal(ws.sent.length, 0);
  ws.close(1006);
  await tick(300);
  const ws2 = FakeWS.all[1];
  ws2.recv(hello(0, 'running', 'writer'));
  assert.equal(conn.sendInput('ls\r'), true);
  assert.equal(conn.sendResize(100, 30), true);
  const frames = ws2.sent.flatMap((b) => decodeMessage(b));
  assert.deepEqual(frames.map((f) => f.type), [T.INPUT, T.RESIZE]);
  conn.stop();
});
