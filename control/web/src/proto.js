// proto.js: runwire wire protocol v1 for the page (docs/protocol.md), a pure codec.
//
// Every WebSocket binary message holds one or more frames: an 8-byte header
// 'R' 'W' ver=1 type u32be-body-length, then the body. The page decodes what control sends
// (HELLO, EVENT, OUTPUT, EXIT, ERROR) and encodes what a viewer sends (INPUT, RESIZE,
// SIGNAL). Caps mirror common/proto.h.

export const VERSION = 1;
export const HEADER_LEN = 8;
export const MAX_BODY = 1 << 20;
export const MAX_INPUT = 64 << 10;
export const MAX_DIM = 4096;

export const T = Object.freeze({
  OUTPUT: 0x01,
  ACK: 0x02,
  INPUT: 0x03,
  RESIZE: 0x04,
  SIGNAL: 0x05,
  EVENT: 0x06,
  EXIT: 0x07,
  ERROR: 0x08,
  HELLO: 0x09,
  ASSIGN: 0x0a,
});

export const ERR = Object.freeze({
  PROTOCOL: 1,
  AUTH: 2,
  NOT_FOUND: 3,
  FORBIDDEN: 4,
  RUNNER: 5,
  INTERNAL: 6,
});

const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

function header(view, type, bodyLen) {
  view.setUint8(0, 0x52); // 'R'
  view.setUint8(1, 0x57); // 'W'
  view.setUint8(2, VERSION);
  view.setUint8(3, type);
  view.setUint32(4, bodyLen);
}

function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

// Decodes one whole message (an ArrayBuffer or Uint8Array) into frames. Data of OUTPUT
// frames are views into the message's buffer (no copy). Throws on a malformed message:
// the caller closes the link, as control does (errors are not recoverable mid-stream).
export function decodeMessage(message) {
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < HEADER_LEN) throw new Error('truncated frame header');
    if (bytes[pos] !== 0x52 || bytes[pos + 1] !== 0x57) throw new Error('bad frame magic');
    if (bytes[pos + 2] !== VERSION) throw new Error(`unknown protocol version ${bytes[pos + 2]}`);
    const type = bytes[pos + 3];
    const len = view.getUint32(pos + 4);
    if (len > MAX_BODY) throw new Error('frame body too large');
    const start = pos + HEADER_LEN;
    if (bytes.length - start < len) throw new Error('truncated frame body');
    const body = bytes.subarray(start, start + len);
    const bv = new DataView(bytes.buffer, bytes.byteOffset + start, len);
    switch (type) {
      case T.OUTPUT:
        if (len < 8) throw new Error('short OUTPUT frame');
        frames.push({ type, offset: Number(bv.getBigUint64(0)), data: body.subarray(8) });
        break;
      case T.EVENT:
      case T.HELLO:
      case T.ASSIGN: {
        const obj = JSON.parse(utf8.decode(body));
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('JSON frame is not an object');
        frames.push({ type, json: obj });
        break;
      }
      case T.EXIT:
        if (len !== 48) throw new Error('bad EXIT frame');
        frames.push({
          type,
          code: bv.getInt32(0),
          signal: bv.getUint8(4),
          total: Number(bv.getBigUint64(8)),
          sha256: hex(body.subarray(16, 48)),
        });
        break;
      case T.ERROR:
        if (len < 2) throw new Error('short ERROR frame');
        frames.push({ type, code: bv.getUint16(0), message: utf8.decode(body.subarray(2)) });
        break;
      case T.ACK:
        if (len !== 8) throw new Error('bad ACK frame');
        frames.push({ type, offset: Number(bv.getBigUint64(0)) });
        break;
      case T.INPUT:
        frames.push({ type, data: body });
        break;
      case T.RESIZE:
        if (len !== 4) throw new Error('bad RESIZE frame');
        frames.push({ type, cols: bv.getUint16(0), rows: bv.getUint16(2) });
        break;
      case T.SIGNAL:
        if (len !== 1) throw new Error('bad SIGNAL frame');
        frames.push({ type, signal: bv.getUint8(0) });
        break;
      default:
        throw new Error(`unknown frame type ${type}`);
    }
    pos = start + len;
  }
  return frames;
}

// INPUT frames for `data` (a string, sent as UTF-8, or bytes), split at MAX_INPUT.
export function encodeInput(data) {
  const bytes = typeof data === 'string' ? utf8enc.encode(data) : data;
  const out = [];
  for (let off = 0; off < bytes.length || (off === 0 && bytes.length === 0); off += MAX_INPUT) {
    const chunk = bytes.subarray(off, Math.min(off + MAX_INPUT, bytes.length));
    const buf = new Uint8Array(HEADER_LEN + chunk.length);
    header(new DataView(buf.buffer), T.INPUT, chunk.length);
    buf.set(chunk, HEADER_LEN);
    out.push(buf);
    if (bytes.length === 0) break;
  }
  return out;
}

export function encodeResize(cols, rows) {
  if (!(cols >= 1 && cols <= MAX_DIM && rows >= 1 && rows <= MAX_DIM)) throw new RangeError('bad terminal size');
  const buf = new Uint8Array(HEADER_LEN + 4);
  const v = new DataView(buf.buffer);
  header(v, T.RESIZE, 4);
  v.setUint16(8, cols);
  v.setUint16(10, rows);
  return buf;
}

export function encodeSignal(signo) {
  const buf = new Uint8Array(HEADER_LEN + 1);
  const v = new DataView(buf.buffer);
  header(v, T.SIGNAL, 1);
  v.setUint8(8, signo);
  return buf;
}

// Test helpers (and the page's own fake frames in unit tests): control's side.
export function encodeOutput(offset, data) {
  const buf = new Uint8Array(HEADER_LEN + 8 + data.length);
  const v = new DataView(buf.buffer);
  header(v, T.OUTPUT, 8 + data.length);
  v.setBigUint64(8, BigInt(offset));
  buf.set(data, 16);
  return buf;
}

export function encodeJson(type, obj) {
  const body = utf8enc.encode(JSON.stringify(obj));
  const buf = new Uint8Array(HEADER_LEN + body.length);
  header(new DataView(buf.buffer), type, body.length);
  buf.set(body, HEADER_LEN);
  return buf;
}
