#!/usr/bin/env python3
"""A stand-in for a Kubernetes cluster's token issuer, for the runner-credential tests.

  mint_sa_token.py jwks KEY.pem KID [KEY.pem KID ...]
                                               -> prints a JWKS with the keys' public halves
  mint_sa_token.py token KEY.pem KID ISS POD_UID [--aud A] [--exp-in S] [--alg RS256]
                                               -> prints a projected service-account token
  mint_sa_token.py serve DIR                   -> the cluster's JWKS endpoint on a loopback
      port (written to DIR/port), https when DIR/server.pem and DIR/server.key exist. Each
      GET answers DIR/body with the status in DIR/status (default 200) and the
      Cache-Control in DIR/cache (if any), and appends a line to DIR/hits; the files may
      change between requests (a key rotation, an outage, a bad document).
Signing uses the openssl command line; nothing here is a real cluster's key.
"""
import base64, json, subprocess, sys, time

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def public_numbers(key):
    out = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"],
                         check=True, capture_output=True, text=True).stdout
    n = bytes.fromhex(out.strip().split("=", 1)[1])
    return n, (65537).to_bytes(3, "big")

if sys.argv[1] == "jwks":
    keys = []
    for key, kid in zip(sys.argv[2::2], sys.argv[3::2]):
        n, e = public_numbers(key)
        keys.append({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64(n), "e": b64(e)})
    print(json.dumps({"keys": keys}))
    sys.exit(0)

if sys.argv[1] == "serve":
    import http.server, os, ssl
    d = sys.argv[2]

    def read(name, default=None):
        try:
            with open(os.path.join(d, name), "rb") as f:
                return f.read()
        except OSError:
            return default

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with open(os.path.join(d, "hits"), "a") as f:
                f.write(self.path + "\n")
            body = read("body", b"")
            self.send_response(int(read("status", b"200")))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            cache = read("cache")
            if cache:
                self.send_header("Cache-Control", cache.decode().strip())
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    if os.path.exists(os.path.join(d, "server.pem")):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    srv.serve_forever()

_, _, key, kid, iss, uid, *rest = sys.argv
opts = dict(zip(rest[0::2], rest[1::2]))
now = int(time.time())
header = {"alg": opts.get("--alg", "RS256"), "kid": kid}
claims = {"iss": iss, "aud": [opts.get("--aud", "runwire")], "iat": now, "nbf": now,
          "exp": now + int(opts.get("--exp-in", "600")), "sub": "system:serviceaccount:runwire:runner",
          "kubernetes.io": {"namespace": "runwire", "pod": {"name": "runner-x", "uid": uid},
                            "serviceaccount": {"name": "runner", "uid": "sa-1"}}}
signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                     check=True, capture_output=True).stdout
print(f"{signing}.{b64(sig)}")
