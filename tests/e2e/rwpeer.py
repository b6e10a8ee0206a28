#!/usr/bin/env python3
"""rwpeer.py: a hand-made runwire peer for the hardening tests, Python's stdlib only.

Speaks just enough WebSocket (RFC 6455, client side) and runwire frames (docs/protocol.md) to
play a hostile agent on /agent or a viewer on /ws/<sid>. Each subcommand prints one JSON line
per thing it saw, so a shell test can grep the outcome.

  rwpeer.py agent PORT HELLO_JSON [--send-output TEXT] [--exit-digest ok|bad] [--prior TEXT]
                 [--wait S]
      connects to /agent, sends HELLO_JSON; prints {"recv": TYPE, ...} for each frame from
      control until it closes or --wait seconds pass without one. After an accepted resume
      (HELLO with an offset) or an ASSIGN it sends --send-output at that offset, and with
      --exit-digest an EXIT whose SHA-256 (of --prior and the output) is right or wrong.
  rwpeer.py viewer PORT SID TOKEN [--input HEX ...] [--after TEXT] [--wait S]
      attaches since 0 and prints {"output": ...} / {"event": ...} / {"exit": ...} lines;
      once TEXT has appeared in the output it sends one INPUT frame per --input (hex bytes,
      "" for an empty frame), then reads until EXIT or --wait seconds.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

OUTPUT, ACK, INPUT, RESIZE, SIGNAL, EVENT, EXIT, ERROR, HELLO, ASSIGN = range(1, 11)
NAMES = {1: "OUTPUT", 2: "ACK", 3: "INPUT", 4: "RESIZE", 5: "SIGNAL", 6: "EVENT", 7: "EXIT",
         8: "ERROR", 9: "HELLO", 10: "ASSIGN"}


def say(obj):
    print(json.dumps(obj), flush=True)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def ws_send(sock, opcode, payload):
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


def ws_connect(port, path, protocol):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status:
        say({"refused": status})
        sys.exit(0)
    return sock


def ws_messages(sock):
    """Yields whole binary messages until the peer closes."""
    parts = b""
    while True:
        try:
            b0, b1 = recv_exact(sock, 2)
        except (EOFError, ConnectionResetError):
            return
        opcode, n = b0 & 0x0F, b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(sock, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(sock, 8))[0]
        payload = recv_exact(sock, n)
        if opcode == 0x9:
            ws_send(sock, 0xA, payload)
        elif opcode == 0x8:
            return
        elif opcode in (0x0, 0x1, 0x2):
            parts += payload
            if b0 & 0x80:
                yield parts
                parts = b""


def rw_frame(ftype, body):
    return b"RW\x01" + bytes([ftype]) + struct.pack(">I", len(body)) + body


def rw_frames(sock):
    """Yields (type, body) for each runwire frame control sends."""
    buf = b""
    for msg in ws_messages(sock):
        buf += msg
        while len(buf) >= 8:
            ftype, blen = buf[3], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + blen:
                break
            body, buf = buf[8:8 + blen], buf[8 + blen:]
            yield ftype, body


def exit_body(code, total, digest):
    return struct.pack(">iB3xQ", code, 0, total) + digest


def run_agent(a):
    sock = ws_connect(a.port, "/agent", "runwire.agent.v1")
    sock.settimeout(a.wait)
    ws_send(sock, 2, rw_frame(HELLO, a.hello.encode()))
    sent = False
    try:
        for ftype, body in rw_frames(sock):
            rec = {"recv": NAMES.get(ftype, ftype)}
            start = None
            if ftype in (HELLO, ASSIGN, EVENT):
                rec["json"] = json.loads(body)
            elif ftype == ERROR:
                rec["code"] = struct.unpack(">H", body[:2])[0]
                rec["message"] = body[2:].decode(errors="replace")
            elif ftype == INPUT:
                rec["hex"] = body.hex()
            elif ftype == ACK:
                rec["offset"] = struct.unpack(">Q", body)[0]
            say(rec)
            if ftype == HELLO and "offset" in rec["json"]:
                start = rec["json"]["offset"]
            elif ftype == ASSIGN:
                start = 0
            if start is not None and not sent and a.send_output is not None:
                sent = True
                data = a.send_output.encode()
                ws_send(sock, 2, rw_frame(OUTPUT, struct.pack(">Q", start) + data))
                if a.exit_digest:
                    digest = hashlib.sha256(a.prior.encode() + data).digest()
                    if a.exit_digest == "bad":
                        digest = bytes(x ^ 0xFF for x in digest)
                    ws_send(sock, 2, rw_frame(EXIT, exit_body(0, start + len(data), digest)))
    except socket.timeout:
        say({"timeout": a.wait})
    say({"closed": True})


def run_viewer(a):
    sock = ws_connect(a.port, f"/ws/{a.sid}?since=0", f"bearer, {a.token}")
    sock.settimeout(a.wait)
    out = b""
    typed = a.after is None
    if typed:
        for h in a.input:
            ws_send(sock, 2, rw_frame(INPUT, bytes.fromhex(h)))
        say({"typed": len(a.input)})
    try:
        for ftype, body in rw_frames(sock):
            if ftype == OUTPUT:
                out += body[8:]
                say({"output": body[8:].decode(errors="replace")})
                if not typed and a.after.encode() in out:
                    typed = True
                    for h in a.input:
                        ws_send(sock, 2, rw_frame(INPUT, bytes.fromhex(h)))
                    say({"typed": len(a.input)})
            elif ftype == EVENT:
                say({"event": json.loads(body)})
            elif ftype == EXIT:
                code, signo, total = struct.unpack(">iB3xQ", body[:16])
                say({"exit": {"code": code, "signal": signo, "total": total,
                              "sha256": body[16:48].hex()}})
                break
            elif ftype == ERROR:
                say({"error": body[2:].decode(errors="replace")})
    except socket.timeout:
        say({"timeout": a.wait})
    say({"closed": True, "all": out.decode(errors="replace")})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ag = sub.add_parser("agent")
    ag.add_argument("port", type=int)
    ag.add_argument("hello")
    ag.add_argument("--send-output")
    ag.add_argument("--exit-digest", choices=["ok", "bad"])
    ag.add_argument("--prior", default="", help="the session's output before this agent's")
    ag.add_argument("--wait", type=float, default=5)
    vw = sub.add_parser("viewer")
    vw.add_argument("port", type=int)
    vw.add_argument("sid")
    vw.add_argument("token")
    vw.add_argument("--input", action="append", default=[])
    vw.add_argument("--after")
    vw.add_argument("--wait", type=float, default=30)
    a = p.parse_args()
    run_agent(a) if a.cmd == "agent" else run_viewer(a)


if __name__ == "__main__":
    main()
