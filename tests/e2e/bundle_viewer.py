#!/usr/bin/env python3
"""A minimal viewer for the bundle tests: prints each EVENT a session's viewers get, one JSON
line each, then {"type":"exit",...} from the EXIT frame, and leaves.

usage: bundle_viewer.py HOST PORT SESSION TOKEN

Speaks just enough WebSocket (RFC 6455, client side) and runwire frames (docs/protocol.md) for
that, with no library beyond Python's own: the upgrade with `Sec-WebSocket-Protocol: bearer,
<token>`, unmasked server frames (fragments joined), pings answered, then 'RW' frames.
"""
import base64
import json
import os
import socket
import struct
import sys

EVENT, EXIT = 0x06, 0x07


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_messages(sock):
    """Yields whole binary messages."""
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
            send_frame(sock, 0xA, payload)
        elif opcode == 0x8:
            return
        elif opcode in (0x0, 0x1, 0x2):
            parts += payload
            if b0 & 0x80:
                yield parts
                parts = b""


def main():
    host, port, sid, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = socket.create_connection((host, port), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/{sid}?since=0 HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: bearer, {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        sys.exit("upgrade refused: " + head.split(b"\r\n", 1)[0].decode())
    buf = b""
    for msg in ws_messages(sock):
        buf += msg
        while len(buf) >= 8:
            ftype, blen = buf[3], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + blen:
                break
            body, buf = buf[8:8 + blen], buf[8 + blen:]
            if ftype == EVENT:
                print(json.dumps(json.loads(body)), flush=True)
            elif ftype == EXIT:
                code, signo = struct.unpack(">iB", body[:5])
                total = struct.unpack(">Q", body[8:16])[0]
                print(json.dumps({"type": "exit", "code": code, "signal": signo,
                                  "total": total, "sha256": body[16:48].hex()}), flush=True)
                return


if __name__ == "__main__":
    main()
