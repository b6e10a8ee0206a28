"""rwws.py: the WebSocket client side (RFC 6455) and runwire frames (docs/protocol.md) that the
Python test peers share: rwviewer.py, tests/e2e/rwpeer.py and tests/e2e/bundle_viewer.py.
Python's standard library only. Peers that need sockets of their own shape (tiny buffers,
a man in the middle) keep their own code: hostile_peer.py, tests/e2e/viewer_mitm.py.
"""
import base64
import os
import socket
import struct

OUTPUT, ACK, INPUT, RESIZE, SIGNAL, EVENT, EXIT, ERROR, HELLO, ASSIGN = range(1, 11)
NAMES = {1: "OUTPUT", 2: "ACK", 3: "INPUT", 4: "RESIZE", 5: "SIGNAL", 6: "EVENT", 7: "EXIT",
         8: "ERROR", 9: "HELLO", 10: "ASSIGN"}


class Refused(Exception):
    """The upgrade was answered with something other than 101; args[0] is the status line."""


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def ws_send(sock, opcode, payload):
    """Sends one masked frame, as a client must."""
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


def ws_connect(port, path, protocol, host="127.0.0.1", timeout=30):
    """Opens a WebSocket with Sec-WebSocket-Protocol `protocol`; raises Refused."""
    sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status:
        sock.close()
        raise Refused(status)
    return sock


def ws_messages(sock):
    """Yields whole data messages (fragments joined, pings answered) until the peer closes."""
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
    """Yields (type, body) for each runwire frame the peer sends."""
    buf = b""
    for msg in ws_messages(sock):
        buf += msg
        while len(buf) >= 8:
            ftype, blen = buf[3], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + blen:
                break
            body, buf = buf[8:8 + blen], buf[8 + blen:]
            yield ftype, body
