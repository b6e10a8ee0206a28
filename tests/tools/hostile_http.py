#!/usr/bin/env python3
"""hostile_http.py: a raw-socket HTTP client for the front-door tests
(tests/e2e/harden_frontdoor.sh). Python 3 stdlib only, loopback only.

  request PORT DATA [--src ADDR] [--timeout S]
      Sends DATA (a Python bytes literal body, e.g. 'GET / HTTP/1.1\\r\\n\\r\\n') and reads
      until the peer closes or the timeout; prints one line per HTTP response found:
      "STATUS <body>", then "closed" or "open".
  slow PORT --gap S [--src ADDR]
      Sends GET /healthz in two TCP segments S seconds apart; prints the status (or "reset").
  hold PORT N DATA --ready FILE [--src A,B,...] [--read-status]
      Opens N connections (source addresses round robin), sends DATA on each and, with
      --read-status, then reads each one's status line (all within --status-within s). Writes {"opened": n, "statuses": {...}}
      to FILE once done, then holds every connection until SIGTERM.
"""
import argparse
import json
import os
import signal
import socket
import sys
import time


def parse_bytes(s):
    """'\\r\\n'-style escapes in a command-line argument, as bytes."""
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


def connect(port, src=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def split_responses(data):
    """Yields (status, body) for each complete HTTP/1.x response in data."""
    out = []
    while data.startswith(b"HTTP/1."):
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head = data[:end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = data[end + 4:end + 4 + length]
        out.append((status, body.decode("utf-8", "replace").strip()))
        if status == 101:
            break
        data = data[end + 4 + length:]
    return out


def cmd_request(a):
    s = connect(a.port, a.src, a.timeout)
    s.sendall(parse_bytes(a.data))
    data, closed = b"", False
    deadline = time.monotonic() + a.timeout
    try:
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            data += d
            if any(st == 101 for st, _ in split_responses(data)):
                break
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    for status, body in split_responses(data):
        print(status, body.replace("\n", " "))
    print("closed" if closed else "open")


def cmd_slow(a):
    s = connect(a.port, a.src, 10)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(a.gap)  # the behaviour under test: a head cut in two, slowly
        s.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (ConnectionResetError, BrokenPipeError):
        print("reset")
        return
    except socket.timeout:
        print("timeout")
        return
    r = split_responses(data)
    print(r[0][0] if r else "none")


def cmd_hold(a):
    srcs = a.src.split(",") if a.src else [None]
    data = parse_bytes(a.data)
    conns, statuses = [], {}
    for i in range(a.n):
        try:
            s = connect(a.port, srcs[i % len(srcs)], 5)
            s.sendall(data)
            conns.append(s)
        except OSError as e:
            statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
    # all requests are out before any answer is awaited, so that none of them is held
    # long before the others; the answers are then read within one deadline
    deadline = time.monotonic() + a.status_within
    for s in conns if a.read_status else []:
        line = b""
        try:
            while b"\r\n" not in line:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                d = s.recv(1)
                if not d:
                    break
                line += d
        except OSError:
            pass
        st = line.split(b" ")[1].decode() if line.startswith(b"HTTP/") else "none"
        statuses[st] = statuses.get(st, 0) + 1
    tmp = a.ready + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"opened": len(conns), "statuses": statuses}, f)
    os.rename(tmp, a.ready)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("request")
    r.add_argument("port", type=int)
    r.add_argument("data")
    r.add_argument("--src")
    r.add_argument("--timeout", type=float, default=5)
    s = sub.add_parser("slow")
    s.add_argument("port", type=int)
    s.add_argument("--gap", type=float, default=0.5)
    s.add_argument("--src")
    h = sub.add_parser("hold")
    h.add_argument("port", type=int)
    h.add_argument("n", type=int)
    h.add_argument("data")
    h.add_argument("--ready", required=True)
    h.add_argument("--src")
    h.add_argument("--read-status", action="store_true")
    h.add_argument("--status-within", type=float, default=3,
                   help="seconds to read every status line in, after all are sent")
    a = p.parse_args()
    {"request": cmd_request, "slow": cmd_slow, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    main()
