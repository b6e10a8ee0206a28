#!/usr/bin/env python3
"""fake_redirector.py: a hostile stand-in for control on /agent, Python's stdlib only.

Answers every agent's HELLO with HELLO {"v":1,"redirect":URL} and closes, as a replica does
(docs/protocol.md, "Redirect"), whatever URL it is given: the agent's own checks are what is
tested. Prints one JSON line per HELLO it got ({"hello": {...}} without the credential).

  fake_redirector.py PORT_FILE URL    (URL may contain {port}: this server's own port)
"""
import base64
import hashlib
import json
import socket
import struct
import sys

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(
    __import__("os").path.abspath(__file__)), "..", "tools"))
from rwws import HELLO, recv_exact, rw_frame  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_frame(sock):
    """One client frame (masked, as a client must send): (opcode, payload)."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    mask = recv_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = recv_exact(sock, n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def send_frame(sock, opcode, payload):
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n))
    sock.sendall(head + payload)


def serve_one(conn, url):
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(conn, 1)
    key = proto = ""
    for line in head.decode().split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "sec-websocket-key":
            key = v.strip()
        elif k.lower() == "sec-websocket-protocol":
            proto = v.strip()
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                  f"Sec-WebSocket-Protocol: {proto}\r\n\r\n").encode())
    buf = b""
    while len(buf) < 8 or len(buf) < 8 + struct.unpack(">I", buf[4:8])[0]:
        op, data = read_frame(conn)
        if op == 0x8:
            return
        buf += data
    hello = json.loads(buf[8:8 + struct.unpack(">I", buf[4:8])[0]])
    hello.pop("ticket", None)
    print(json.dumps({"hello": hello}), flush=True)
    send_frame(conn, 0x2, rw_frame(HELLO, json.dumps({"v": 1, "redirect": url}).encode()))
    send_frame(conn, 0x8, struct.pack(">H", 1000))


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    url = sys.argv[2].replace("{port}", str(port))
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{port}\n")
    __import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        conn, _ = srv.accept()
        conn.settimeout(10)
        try:
            serve_one(conn, url)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
