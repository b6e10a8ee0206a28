#!/usr/bin/env python3
"""A loopback recording proxy in front of s3rver that checks AWS Signature Version 4.

usage: sigv4_proxy.py --upstream-port N --port-file FILE --log FILE --secret KEY

s3rver serves the S3 API but never checks SigV4 signatures, so this proxy does: for every
request it recomputes the signature from the request as received (method, path, signed
headers, x-amz-content-sha256) with --secret and logs one JSON line: method, host, path,
headers and "sigv4": "valid", "absent" or "invalid: why". Then it forwards the request to
s3rver on 127.0.0.1:--upstream-port and relays the answer.

One route is its own: /BUCKET/moved/KEY answers 307 to http://localhost:PORT/BUCKET/KEY (a
redirect to another host name), so a test can check that credentials do not follow it.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                     r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def verify_sigv4(method, raw_path, headers, secret):
    auth = headers.get("authorization")
    if not auth:
        return "absent"
    m = AUTH_RE.match(auth)
    if not m:
        return "invalid: malformed Authorization"
    _key_id, date, region, service, signed, signature = m.groups()
    names = signed.split(";")
    if names != sorted(names) or "host" not in names:
        return "invalid: SignedHeaders"
    for required in ("x-amz-date", "x-amz-content-sha256"):
        if required not in names:
            return f"invalid: {required} not signed"
    path, _, query = raw_path.partition("?")
    canon_query = "&".join(sorted(p if "=" in p else p + "=" for p in query.split("&"))) if query else ""
    canon_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    payload = headers.get("x-amz-content-sha256")
    creq = "\n".join([method, path, canon_query, canon_headers, signed, payload])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = sign(sign(sign(sign(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return "valid" if hmac.compare_digest(want, signature) else "invalid: signature"


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"method": self.command, "host": headers.get("host", ""), "path": self.path,
                 "headers": headers,
                 "sigv4": verify_sigv4(self.command, self.path, self.headers, self.server.secret)}
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

        parts = self.path.split("/", 3)
        if len(parts) == 4 and parts[2] == "moved":
            target = f"http://localhost:{self.server.server_port}/{parts[1]}/{parts[3]}"
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        up = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        up.request(self.command, self.path, body=body,
                   headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS})
        resp = up.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret", required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    srv.daemon_threads = True
    srv.upstream_port = args.upstream_port
    srv.secret = args.secret
    srv.log_path = args.log
    srv.log_lock = threading.Lock()
    open(args.log, "a").close()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_port))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
