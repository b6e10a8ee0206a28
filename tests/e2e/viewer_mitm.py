#!/usr/bin/env python3
"""viewer_mitm.py: a man in the middle between the terminal client and control, for the tests
of the client's exit statuses (tests/e2e/client_exit_status.sh). Python's stdlib only.

usage: viewer_mitm.py UPSTREAM_PORT PORT_FILE MODE

HTTP requests pass through untouched. On a viewer's WebSocket (/ws/...) it parses control's
frames (unmasked, RFC 6455) and, by MODE, tampers with the OUTPUT frames (docs/protocol.md):

  pass   nothing (the proxy itself is transparent)
  gap    the second OUTPUT message is dropped and replaced by the resync EVENT control sends
         to a viewer that fell behind ({"type":"resync","skipped":N,"offset":M})
  gaps   the same for every second OUTPUT message: many gaps in one session
  flip   one byte of the first OUTPUT message's terminal bytes is flipped
  cut    after the first OUTPUT message the viewer's connection is closed, and every later
         WebSocket upgrade is answered 503 (control is unreachable for viewers)

Only WebSocket messages that hold exactly one OUTPUT frame are tampered with. Writes one line
per tampering to stderr.
"""
import json
import socket
import struct
import sys
import threading

UPSTREAM, PORT_FILE, MODE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
state = {"outputs": 0, "cut": False}
lock = threading.Lock()


def note(msg):
    print(f"viewer_mitm: {msg}", file=sys.stderr, flush=True)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def ws_header(b0, n):
    if n < 126:
        return bytes([b0, n])
    if n < 65536:
        return bytes([b0, 126]) + struct.pack(">H", n)
    return bytes([b0, 127]) + struct.pack(">Q", n)


def rw_frame(ftype, body):
    return b"RW\x01" + bytes([ftype]) + struct.pack(">I", len(body)) + body


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def tamper(payload):
    """The WebSocket payload to forward instead of `payload` (None: close the viewer)."""
    if len(payload) < 16 or payload[:4] != b"RW\x01\x01":
        return payload
    if 8 + struct.unpack(">I", payload[4:8])[0] != len(payload):
        return payload
    with lock:
        state["outputs"] += 1
        n = state["outputs"]
    offset, data = struct.unpack(">Q", payload[8:16])[0], payload[16:]
    if (MODE == "gap" and n == 2) or (MODE == "gaps" and n % 2 == 0):
        note(f"dropped OUTPUT at {offset} ({len(data)} bytes)")
        ev = {"type": "resync", "skipped": len(data), "offset": offset + len(data)}
        return rw_frame(6, json.dumps(ev).encode())
    if MODE == "flip" and n == 1 and data:
        note(f"flipped a byte of OUTPUT at {offset}")
        return payload[:16] + bytes([data[0] ^ 0x01]) + data[1:]
    if MODE == "cut" and n == 2:
        note(f"cut the viewer before OUTPUT at {offset}")
        with lock:
            state["cut"] = True
        return None
    return payload


def relay_ws(up, client):
    """control -> viewer, one WebSocket frame at a time."""
    try:
        while True:
            b0, b1 = recv_exact(up, 2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", recv_exact(up, 2))[0]
            elif n == 127:
                n = struct.unpack(">Q", recv_exact(up, 8))[0]
            payload = recv_exact(up, n)
            if b0 == 0x82:   # a whole binary message
                payload = tamper(payload)
                if payload is None:
                    break
            client.sendall(ws_header(b0, len(payload)) + payload)
    except (EOFError, OSError):
        pass
    for s in (up, client):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
    except OSError:
        client.close()
        return
    is_ws = head.startswith(b"GET /ws/")
    if is_ws and state["cut"]:
        client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                       b"Connection: close\r\n\r\n")
        client.close()
        return
    up = socket.create_connection(("127.0.0.1", UPSTREAM))
    up.sendall(head)
    threading.Thread(target=pump, args=(client, up), daemon=True).start()
    if not is_ws:
        pump(up, client)
        return
    # the upgrade answer, then frames
    resp = b""
    try:
        while b"\r\n\r\n" not in resp:
            chunk = up.recv(1)
            if not chunk:
                raise EOFError
            resp += chunk
        client.sendall(resp)
    except (EOFError, OSError):
        client.close()
        return
    relay_ws(up, client)


def main():
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    import os
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    while True:
        c, _ = lsock.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
