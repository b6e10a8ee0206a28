#!/usr/bin/env python3
"""A scriptable viewer for the hardening tests: attaches to a session like the page does,
optionally floods it with INPUT or RESIZE frames, and prints one JSON summary of what it got:

  {"bytes": N, "first_offset": N, "events": N, "event_bytes": N, "event_types": {...},
   "resyncs": [{"skipped", "offset", ...}], "errors": [...], "exit": {...} or null,
   "sha256_ok": bool}

usage: rwviewer.py HOST PORT SESSION TOKEN [--since N] [--out FILE]
                   [--flood-input N] [--flood-resize N] [--empty-input N]

Python's standard library only; the WebSocket and frame code is rwws.py's.
"""
import argparse
import hashlib
import json
import socket
import struct
import sys

from rwws import (OUTPUT, INPUT, RESIZE, EVENT, EXIT, ERROR, Refused, rw_frame, rw_frames,
                  ws_connect, ws_send)


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

    try:
        sock = ws_connect(a.port, f"/ws/{a.session}?since={a.since}", f"bearer, {a.token}",
                          host=a.host, timeout=120)
    except Refused as e:
        sys.exit("upgrade refused: " + e.args[0])

    for i in range(a.flood_input):
        ws_send(sock, 2, rw_frame(INPUT, b"x"))
    for i in range(a.flood_resize):
        ws_send(sock, 2, rw_frame(RESIZE, struct.pack(">HH", 80 + i % 2, 24)))
    for i in range(a.empty_input):
        ws_send(sock, 2, rw_frame(INPUT, b""))

    out = open(a.out, "wb") if a.out else None
    sha = hashlib.sha256()
    s = {"bytes": 0, "first_offset": None, "events": 0, "event_bytes": 0, "event_types": {},
         "resyncs": [], "errors": [], "exit": None, "sha256_ok": None}
    try:
        for ftype, body in rw_frames(sock):
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
                s["event_bytes"] += 8 + len(body)
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
