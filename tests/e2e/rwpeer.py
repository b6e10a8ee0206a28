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
import hashlib
import json
import os
import struct
import sys
import socket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import rwws  # noqa: E402  (tests/tools/rwws.py: WebSocket and runwire frames)
from rwws import (NAMES, OUTPUT, ACK, INPUT, EVENT, EXIT, ERROR, HELLO, ASSIGN,  # noqa: E402
                  rw_frame, rw_frames, ws_send)


def say(obj):
    print(json.dumps(obj), flush=True)


def ws_connect(port, path, protocol):
    try:
        return rwws.ws_connect(port, path, protocol)
    except rwws.Refused as e:
        say({"refused": e.args[0]})
        sys.exit(0)


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
