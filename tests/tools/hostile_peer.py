#!/usr/bin/env python3
"""A peer that stops reading from runwire-control and then leaves badly (tests/e2e/harden_wedge.sh).

usage: hostile_peer.py PORT viewer SID         END --token TOKEN [options]
       hostile_peer.py PORT agent TICKET_FILE END [options]
       hostile_peer.py PORT http PATH         END [options]
options: --read N  --min-queue BYTES  --block-timeout S

It connects with a small receive buffer and a real network's MSS, upgrades (viewer: /ws/SID
with the bearer token; agent: /agent, HELLO with the ticket, then a session of its own
through the API whose ASSIGN it waits for, flooded with INPUT by a second connection so
that control has frames for it) or sends a GET (http), then reads at most --read bytes more
and stops reading.

END says how it leaves:
  halfclose  wait until control's socket to it is blocked (its send queue in /proc/net/tcp
             is at least --min-queue bytes and has stopped moving), then shutdown(SHUT_WR):
             a FIN while control still has bytes for it; the socket stays open
  close      close() right after the read (unread bytes make the kernel send a RST)
  rst        SO_LINGER 0, close(): a RST at once
It prints "ended" once it has left and, for halfclose, holds the socket until killed.
Exit status 2: control's socket never blocked within --block-timeout seconds.
"""
import argparse, base64, json, os, select, socket, struct, sys, threading, time, urllib.request

RCVBUF = 4096
# The MSS of a real network path. On loopback (MSS 65483) the kernel sizes control's send
# buffer in megabytes from the first segment, and 64 KiB frames never meet a full one.
MSS = 536
STABLE_LOOKS = 3   # unchanged queues over this many looks: control is blocked, not just slow
PROTO_INPUT, PROTO_ASSIGN, PROTO_HELLO = 0x03, 0x0A, 0x09


def ws_frame(payload):
    """A masked binary WebSocket frame, as a client must send."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x82, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x82, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def rw_frame(ftype, body):
    return b"RW" + bytes([1, ftype]) + struct.pack("!I", len(body)) + body


def connect(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
    s.connect(("127.0.0.1", port))
    return s


def upgrade(s, path, protocol, extra=""):
    s.settimeout(10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
               f"{extra}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            sys.exit(f"hostile_peer: {path}: closed during the upgrade")
        head += b
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"hostile_peer: {path}: upgrade refused: {head.splitlines()[0]!r}")
    s.settimeout(None)


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the socket 127.0.0.1:local_port -> 127.0.0.1:remote_port."""
    want_l, want_r = f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_l and fields[2] == want_r:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def wait_blocked(s, port, min_queue, timeout):
    """Polls until control's side of `s` holds at least min_queue unsent bytes and neither
    its send queue nor our receive queue moved over STABLE_LOOKS looks 0.1 s apart."""
    me = s.getsockname()[1]
    last, same = None, 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        theirs, mine = tcp_queues(port, me), tcp_queues(me, port)
        now = (theirs, mine)
        same = same + 1 if now == last else 0
        if theirs and theirs[0] >= min_queue and same >= STABLE_LOOKS:
            return theirs[0]
        last = now
        time.sleep(0.1)
    sys.exit(2)


def read_some(s, n):
    s.settimeout(5)
    got = 0
    try:
        while got < n:
            b = s.recv(min(65536, n - got))
            if not b:
                break
            got += len(b)
    except socket.timeout:
        pass
    s.settimeout(None)


def flood_input(port, sid, token, stop):
    """A writer viewer that sends 64 KiB INPUT frames and drains what control answers."""
    s = socket.create_connection(("127.0.0.1", port))
    upgrade(s, f"/ws/{sid}", f"bearer, {token}")
    s.setblocking(False)
    frame = ws_frame(rw_frame(PROTO_INPUT, b"i" * 65536))
    out = b""
    while not stop.is_set():
        if not out:
            out = frame
        r, w, _ = select.select([s], [s], [], 0.1)
        if r:
            try:
                if not s.recv(1 << 16):
                    break
            except BlockingIOError:
                pass
        if w:
            try:
                out = out[s.send(out):]
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
    s.close()


def api(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("kind", choices=["viewer", "agent", "http"])
    p.add_argument("what")
    p.add_argument("end", choices=["halfclose", "close", "rst"])
    p.add_argument("--token", help="the viewer's session token")
    p.add_argument("--read", type=int, default=0, help="bytes to read before it stops reading")
    p.add_argument("--min-queue", type=int, default=16384)
    p.add_argument("--block-timeout", type=float, default=30)
    a = p.parse_args()

    stop = threading.Event()
    s = connect(a.port)
    if a.kind == "viewer":
        upgrade(s, f"/ws/{a.what}", f"bearer, {a.token}")
    elif a.kind == "agent":
        with open(a.what) as f:
            ticket = f.read().strip()
        upgrade(s, "/agent", "runwire.agent.v1")
        s.sendall(ws_frame(rw_frame(PROTO_HELLO, json.dumps(
            {"v": 1, "ticket": ticket, "pid": os.getpid()}).encode())))
        created = api(a.port, "POST", "/api/sessions", {"command": "cat"})
        seen = b""
        s.settimeout(10)
        while b"RW\x01" + bytes([PROTO_ASSIGN]) not in seen:
            b = s.recv(4096)
            if not b:
                sys.exit("hostile_peer: agent link closed before ASSIGN")
            seen = seen[-8:] + b
        s.settimeout(None)
        threading.Thread(target=flood_input, daemon=True,
                         args=(a.port, created["sessionId"], created["token"], stop)).start()
    else:
        s.sendall(f"GET {a.what} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    read_some(s, a.read)

    if a.end == "halfclose":
        queued = wait_blocked(s, a.port, a.min_queue, a.block_timeout)
        print(f"blocked: control holds {queued} bytes for us", file=sys.stderr)
        s.shutdown(socket.SHUT_WR)
        stop.set()
        print("ended", flush=True)
        while True:
            time.sleep(3600)
    if a.end == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    stop.set()
    print("ended", flush=True)


if __name__ == "__main__":
    main()
