#!/usr/bin/env python3
"""A loopback HTTP(S) server that misbehaves on request, for tests/e2e-bundle.

usage: server.py --root DIR --port-file FILE --log FILE [--cert PEM --key PEM]

Listens on 127.0.0.1 (port 0: the chosen port goes to --port-file), serves files from --root
and logs every request as one JSON line (method, host, path, headers) to --log, so a test can
count requests and see which headers were sent. Routes:

  /files/NAME            the file, with Content-Length
  /chunked/NAME          the file, chunked (no Content-Length)
  /redirect?to=URL       302 to URL
  /chain/N/NAME          N redirects (relative Locations), then /files/NAME
  /stall-headers         accepts the request and never answers
  /stall-body/NAME       headers and the first KiB of the file, then nothing
  /huge-length           Content-Length: 10 GiB, then a few bytes
  /status/CODE?len=N     that status with a short body (or N bytes of "x")
  /bigredirect?to=URL    302 to URL with a 100 KB body

GitHub, chosen by the Host header (the client pins these names to 127.0.0.1):
  api.github.com  /repos/O/R/zipball/REF  -> 302 https://codeload.github.com:PORT/O/R/legacy.zip/REF
  github.com      /O/R/archive/REF.zip    -> 302 https://codeload.github.com:PORT/O/R/zip/refs/heads/REF
  codeload.github.com  any path           -> /files/github.zip
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STALL_S = 120  # a stalled handler sleeps this long (the client gives up first)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rw-test"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        entry = {"method": self.command, "host": self.headers.get("Host", ""),
                 "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def file_path(self, name):
        path = os.path.join(self.server.root, os.path.basename(name))
        return path if os.path.isfile(path) else None

    def send_file(self, name, chunked=False):
        path = self.file_path(name)
        if not path:
            return self.send_status(404)
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 65536):
                part = data[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def send_status(self, code, location=None, body=None):
        body = body if body is not None else b"status %d\n" % code
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.record()
        host = self.headers.get("Host", "").split(":")[0].lower()
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        port = self.server.server_port

        if host == "api.github.com" and len(parts) == 5 and parts[0] == "repos" and parts[3] == "zipball":
            return self.send_status(302, f"https://codeload.github.com:{port}/{parts[1]}/{parts[2]}"
                                         f"/legacy.zip/{parts[4]}")
        if host == "github.com" and len(parts) == 4 and parts[2] == "archive":
            ref = parts[3].rsplit(".", 1)[0]
            return self.send_status(302, f"https://codeload.github.com:{port}/{parts[0]}/{parts[1]}"
                                         f"/zip/refs/heads/{ref}")
        if host == "codeload.github.com":
            return self.send_file("github.zip")

        if not parts:
            return self.send_status(404)
        if parts[0] == "files" and len(parts) == 2:
            return self.send_file(parts[1])
        if parts[0] == "chunked" and len(parts) == 2:
            return self.send_file(parts[1], chunked=True)
        if parts[0] == "redirect":
            return self.send_status(302, parse_qs(url.query)["to"][0])
        if parts[0] == "chain" and len(parts) == 3:
            n = int(parts[1])
            return self.send_status(302, f"/chain/{n - 1}/{parts[2]}" if n > 1 else f"/files/{parts[2]}")
        if parts[0] == "stall-headers":
            time.sleep(STALL_S)
            return
        if parts[0] == "stall-body" and len(parts) == 2:
            path = self.file_path(parts[1])
            with open(path, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:1024])
            self.wfile.flush()
            time.sleep(STALL_S)
            return
        if parts[0] == "huge-length":
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 30))
            self.end_headers()
            self.wfile.write(b"\0" * 65536)
            self.wfile.flush()
            time.sleep(STALL_S)
            return
        if parts[0] == "status" and len(parts) == 2:
            n = int(parse_qs(url.query).get("len", ["0"])[0])
            return self.send_status(int(parts[1]), body=b"x" * n if n else None)
        if parts[0] == "bigredirect":
            return self.send_status(302, parse_qs(url.query)["to"][0], body=b"r" * 100000)
        return self.send_status(404)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = args.root
    srv.log_path = args.log
    srv.log_lock = threading.Lock()
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    open(args.log, "a").close()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_port))
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
