// The page's frame codec against the layouts of docs/protocol.md, fed whole, concatenated
// and broken messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage, encodeInput, encodeResize, encodeSignal, encodeOutput, encodeJson, T, HEADER_LEN,
  MAX_INPUT, MAX_BODY,
} from '../src/proto.js';

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

test('OUTPUT, HELLO and EVENT frames in one message decode in order', () => {
  const msg = concat(
    encodeJson(T.HELLO, { v: 1, role: 'writer', offset: 0, bytes: 5 }),
    encodeOutput(2 ** 40 + 3, new TextEncoder().encode('hello')),
    encodeJson(T.EVENT, { type: 'stage', stage: 'fetch', state: 'running' }));
  const f = decodeMessage(msg.buffer);
  assert.equal(f.length, 3);
  assert.equal(f[0].type, T.HELLO);
  assert.equal(f[0].json.role, 'writer');
  assert.equal(f[1].type, T.OUTPUT);
  assert.equal(f[1].offset, 2 ** 40 + 3, 'u64 offsets above 32 bits');
  assert.equal(new TextDecoder().decode(f[1].data), 'hello');
  assert.equal(f[2].json.stage, 'fetch');
});

test('EXIT carries code, signal, total and the SHA-256 as hex', () => {
  const buf = new Uint8Array(HEADER_LEN + 48);
  const v = new DataView(buf.buffer);
  buf.set([0x52, 0x57, 1, T.EXIT]);
  v.setUint32(4, 48);
  v.setInt32(8, -1);
  v.setUint8(12, 15);
  v.setBigUint64(16, 12345n);
  for (let i = 0; i < 32; i++) buf[24 + i] = i;
  const [f] = decodeMessage(buf);
  assert.deepEqual({ code: f.code, signal: f.signal, total: f.total }, { code: -1, signal: 15, total: 12345 });
  assert.equal(f.sha256, Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(''));
});

test('ERROR carries its code and message', () => {
  const msg = new TextEncoder().encode('read-only viewer: input refused');
  const buf = new Uint8Array(HEADER_LEN + 2 + msg.length);
  buf.set([0x52, 0x57, 1, T.ERROR]);
  new DataView(buf.buffer).setUint32(4, 2 + msg.length);
  new DataView(buf.buffer).setUint16(8, 4);
  buf.set(msg, 10);
  const [f] = decodeMessage(buf);
  assert.equal(f.code, 4);
  assert.equal(f.message, 'read-only viewer: input refused');
});

test('malformed messages are refused', () => {
  const good = encodeOutput(0, new Uint8Array([1, 2, 3]));
  assert.throws(() => decodeMessage(good.subarray(0, 5)), /truncated frame header/);
  assert.throws(() => decodeMessage(good.subarray(0, good.length - 1)), /truncated frame body/);
  const badMagic = good.slice(); badMagic[0] = 0x58;
  assert.throws(() => decodeMessage(badMagic), /magic/);
  const badVer = good.slice(); badVer[2] = 2;
  assert.throws(() => decodeMessage(badVer), /version/);
  const badType = good.slice(); badType[3] = 0x7f;
  assert.throws(() => decodeMessage(badType), /unknown frame type/);
  const tooBig = good.slice(); new DataView(tooBig.buffer).setUint32(4, MAX_BODY + 1);
  assert.throws(() => decodeMessage(tooBig), /too large/);
  assert.throws(() => decodeMessage(encodeJson(T.EVENT, [1, 2])), /not an object/);
});

test('input is split at the 64 KiB frame cap; resize and signal have fixed layouts', () => {
  const big = new Uint8Array(MAX_INPUT + 10).fill(0x61);
  const frames = encodeInput(big);
  assert.equal(frames.length, 2);
  const decoded = frames.flatMap((fr) => decodeMessage(fr));
  assert.deepEqual(decoded.map((d) => d.data.length), [MAX_INPUT, 10]);
  assert.equal(new TextDecoder().decode(decodeMessage(encodeInput('é')[0])[0].data), 'é', 'UTF-8');
  assert.deepEqual(decodeMessage(encodeResize(120, 40))[0], { type: T.RESIZE, cols: 120, rows: 40 });
  assert.throws(() => encodeResize(0, 24), RangeError);
  assert.throws(() => encodeResize(4097, 24), RangeError);
  assert.deepEqual(decodeMessage(encodeSignal(2))[0], { type: T.SIGNAL, signal: 2 });
});
