#!/usr/bin/env python3
"""A minimal viewer for the bundle tests: prints each EVENT a session's viewers get, one JSON
line each, then {"type":"exit",...} from the EXIT frame, and leaves.

usage: bundle_viewer.py HOST PORT SESSION TOKEN

The WebSocket and runwire frames are tests/tools/rwws.py's (Python's standard library only).
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from rwws import EVENT, EXIT, Refused, rw_frames, ws_connect  # noqa: E402


def main():
    host, port, sid, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    try:
        sock = ws_connect(port, f"/ws/{sid}?since=0", f"bearer, {token}", host=host, timeout=60)
    except Refused as e:
        sys.exit("upgrade refused: " + e.args[0])
    for ftype, body in rw_frames(sock):
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
