#!/usr/bin/env python3
"""rwtype.py: a writer for the replica tests, Python's stdlib only (tests/tools/rwws.py).

  rwtype.py PORT SID TOKEN [--after TEXT] [--resize COLSxROWS] [--type FILE] [--keys N]
            [--chunk N] [--gap-ms MS] [--signal N] [--until TEXT] [--wait S]

Attaches to /ws/SID on PORT since 0. Once TEXT has appeared in the output it sends, in this
order: a RESIZE, FILE's first N bytes one INPUT frame per byte (keystrokes, sent as fast as
the socket takes them), the rest of FILE in INPUT frames of --chunk bytes (a paste; default
65536, one frame's most), a SIGNAL. Then it reads until the output holds --until, EXIT, the
close, or --wait seconds without a frame. Prints one JSON object: the output (its last 4 KiB),
the error frames' messages, the exit code (null: none).
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import rwws  # noqa: E402
from rwws import OUTPUT, INPUT, RESIZE, SIGNAL, EXIT, ERROR, rw_frame, rw_frames, ws_send  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("sid")
    p.add_argument("token")
    p.add_argument("--after", default="")
    p.add_argument("--resize")
    p.add_argument("--type")
    p.add_argument("--keys", type=int, default=0)
    p.add_argument("--chunk", type=int, default=65536)
    p.add_argument("--gap-ms", type=float, default=0)
    p.add_argument("--signal", type=int)
    p.add_argument("--until")
    p.add_argument("--wait", type=float, default=20)
    a = p.parse_args()

    sock = rwws.ws_connect(a.port, f"/ws/{a.sid}?since=0", f"bearer, {a.token}")
    sock.settimeout(a.wait)
    out = bytearray()
    errors = []
    exit_code = None
    seen = threading.Event()   # --after appeared
    done = threading.Event()

    def reader():
        nonlocal exit_code
        try:
            for ftype, body in rw_frames(sock):
                if ftype == OUTPUT:
                    out.extend(body[8:])
                    if a.after.encode() in out:
                        seen.set()
                    if a.until and a.until.encode() in out:
                        break
                elif ftype == ERROR:
                    errors.append(body[2:].decode(errors="replace"))
                elif ftype == EXIT:
                    exit_code = struct.unpack(">i", body[:4])[0]
                    break
        except (socket.timeout, OSError, EOFError):
            pass
        seen.set()
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    if not a.after:
        seen.set()
    seen.wait(a.wait)
    try:
        if a.resize:
            cols, rows = (int(x) for x in a.resize.split("x"))
            ws_send(sock, 0x2, rw_frame(RESIZE, struct.pack(">HH", cols, rows)))
        if a.type:
            data = open(a.type, "rb").read()
            for i in range(min(a.keys, len(data))):
                ws_send(sock, 0x2, rw_frame(INPUT, data[i:i + 1]))
                if a.gap_ms:
                    time.sleep(a.gap_ms / 1000)
            for i in range(min(a.keys, len(data)), len(data), a.chunk):
                ws_send(sock, 0x2, rw_frame(INPUT, data[i:i + a.chunk]))
        if a.signal is not None:
            ws_send(sock, 0x2, rw_frame(SIGNAL, bytes([a.signal])))
    except OSError as e:
        errors.append(f"send: {e}")
    done.wait(a.wait + 5)
    print(json.dumps({"output": out[-4096:].decode(errors="replace"), "errors": errors,
                      "exit": exit_code, "bytes": len(out)}), flush=True)


if __name__ == "__main__":
    main()
