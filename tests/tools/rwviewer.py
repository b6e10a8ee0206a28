#!/usr/bin/env python3
"""A scriptable viewer for the hardening tests: attaches to a session like the page does,
optionally floods it with INPUT or RESIZE frames, and prints one JSON summary of what it got:

  {"bytes": N, "first_offset": N, "events": N, "event_bytes": N, "event_types": {...},
   "resyncs": [{"skipped", "offset", ...}], "errors": [...], "exit": {...} or null,
   "sha256_ok": bool}

usage: rwviewer.py HOST PORT SESSION TOKEN [--since N] [--out FILE]
                   [--flood-input N] [--flood-resize N] [--empty-input N]

Python's standard library only (RFC 6455 client side, runwire frames of docs/protocol.md).
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys

OUTPUT, INPUT, RESIZE, EVENT, EXIT, ERROR, HELLO = 0x01, 0x03, 0x04, 0x06, 0x07, 0x08, 0x09


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def send_ws(sock, payload, opcode=0x2):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + mask + masked)


def rw_frame(ftype, body):
    return b"RW\x01" + bytes([ftype]) + struct.pack(">I", len(body)) + body


def ws_messages(sock):
    parts = b""
    while True:
        b0, b1 = recv_exact(sock, 2)
        opcode, n = b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(sock, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, n)
        if opcode == 0x9:
            send_ws(sock, payload, 0xA)
        elif opcode == 0x8:
            return
        elif opcode in (0x0, 0x1, 0x2):
            parts += payload
            if b0 & 0x80:
                yield parts
                parts = b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("session")
    ap.add_argument("token")
    ap.add_argument("--since", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--flood-input", type=int, default=0)
    ap.add_argument("--flood-resize", type=int, default=0)
    ap.add_argument("--empty-input", type=int, default=0)
    a = ap.parse_args()

    sock = socket.create_connection((a.host, a.port), timeout=120)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/{a.session}?since={a.since} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: bearer, {a.token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        sys.exit("upgrade refused: " + head.split(b"\r\n", 1)[0].decode())

    for i in range(a.flood_input):
        send_ws(sock, rw_frame(INPUT, b"x"))
    for i in range(a.flood_resize):
        send_ws(sock, rw_frame(RESIZE, struct.pack(">HH", 80 + i % 2, 24)))
    for i in range(a.empty_input):
        send_ws(sock, rw_frame(INPUT, b""))

    out = open(a.out, "wb") if a.out else None
    sha = hashlib.sha256()
    s = {"bytes": 0, "first_offset": None, "events": 0, "event_bytes": 0, "event_types": {},
         "resyncs": [], "errors": [], "exit": None, "sha256_ok": None}
    buf = b""
    try:
        for msg in ws_messages(sock):
            buf += msg
            while len(buf) >= 8:
                ftype, blen = buf[3], struct.unpack(">I", buf[4:8])[0]
                if len(buf) < 8 + blen:
                    break
                body, buf = buf[8:8 + blen], buf[8 + blen:]
                if ftype == OUTPUT:
                    off = struct.unpack(">Q", body[:8])[0]
                    if s["first_offset"] is None:
                        s["first_offset"] = off
                    s["bytes"] += len(body) - 8
                    sha.update(body[8:])
                    if out:
                        out.write(body[8:])
                elif ftype == EVENT:
                    ev = json.loads(body)
                    s["events"] += 1
                    s["event_bytes"] += 8 + blen
                    t = ev.get("type", "?")
                    s["event_types"][t] = s["event_types"].get(t, 0) + 1
                    if t == "resync":
                        s["resyncs"].append(ev)
                elif ftype == ERROR:
                    s["errors"].append(body[2:].decode(errors="replace"))
                elif ftype == EXIT:
                    code, signo = struct.unpack(">iB", body[:5])
                    total = struct.unpack(">Q", body[8:16])[0]
                    s["exit"] = {"code": code, "signal": signo, "total": total,
                                 "sha256": body[16:48].hex()}
                    s["sha256_ok"] = body[16:48] == sha.digest()
    except (EOFError, ConnectionResetError, socket.timeout) as e:
        s["closed"] = str(e)
    print(json.dumps(s), flush=True)


if __name__ == "__main__":
    main()
