#!/usr/bin/env python3
"""A loopback stand-in for the two Google services control's KMS signer calls, speaking
their documented REST shapes:

  metadata server  GET /computeMetadata/v1/instance/service-accounts/default/token
                   (needs "Metadata-Flavor: Google") -> {"access_token","expires_in","token_type"}
  Cloud KMS        POST /v1/{keyVersion}:asymmetricSign {"digest":{"sha256":B64},"digestCrc32c":"N"}
                   -> {"signature","signatureCrc32c","verifiedDigestCrc32c","name","protectionLevel"}
                   GET /v1/{keyVersion}/publicKey -> {"pem","algorithm","pemCrc32c","name",...}

KMS calls need "Authorization: Bearer <a token this server issued and that has not expired>"
(401 otherwise, as Google answers). Signing uses a real RSA key (--key, made by the test with
openssl) through `openssl pkeyutl`, so signatures verify with `openssl dgst -verify`.

Test knobs: POST /_test/mode {"bad_crc": true} makes signatureCrc32c wrong; {"bad_pem_crc": true}
the public key's; {"sign_delay_ms": N} makes asymmetricSign answer N ms late;
{"unverified_digest": true} answers verifiedDigestCrc32c false (as KMS does when no CRC came);
{"token_ttl": S} changes the life of access tokens issued from now on; GET /_test/stats returns counters (tokens issued, signs, refusals).

usage: fake_kms.py --key PRIV_PEM --key-version NAME --port N [--token-ttl S]
"""
import argparse, base64, json, os, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    _T.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

p = argparse.ArgumentParser()
p.add_argument("--key", required=True)
p.add_argument("--key-version", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--token-ttl", type=int, default=3600)
a = p.parse_args()

PEM = subprocess.run(["openssl", "pkey", "-in", a.key, "-pubout"], check=True,
                     capture_output=True).stdout.decode()
lock = threading.Lock()
tokens = {}  # access token -> expiry (time.time())
mode = {"bad_crc": False, "bad_pem_crc": False, "sign_delay_ms": 0, "unverified_digest": False,
        "token_ttl": a.token_ttl}
stats = {"tokens": 0, "signs": 0, "public_keys": 0, "unauthorized": 0, "no_flavor": 0,
         "bad_digest_crc": 0}
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # never print requests (they carry tokens)
        pass

    def send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def gerror(self, status, msg, st):
        self.send(status, {"error": {"code": status, "message": msg, "status": st}})

    def authorised(self):
        h = self.headers.get("Authorization", "")
        with lock:
            ok = h.startswith("Bearer ") and tokens.get(h[7:], 0) > time.time()
            if not ok:
                stats["unauthorized"] += 1
        if not ok:
            self.gerror(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        return ok

    def do_GET(self):
        path = self.path
        if path == TOKEN_PATH:
            if self.headers.get("Metadata-Flavor") != "Google":
                with lock:
                    stats["no_flavor"] += 1
                self.send(403, {"error": "Missing Metadata-Flavor:Google header"})
                return
            tok = "ya29.fake-" + os.urandom(24).hex()
            with lock:
                ttl = mode["token_ttl"]
                tokens[tok] = time.time() + ttl
                stats["tokens"] += 1
            self.send(200, {"access_token": tok, "expires_in": ttl, "token_type": "Bearer"})
            return
        if path == "/_test/stats":
            with lock:
                self.send(200, dict(stats))
            return
        if path.startswith("/v1/") and path.endswith("/publicKey"):
            name = path[4:-len("/publicKey")]
            if not self.authorised():
                return
            if name != a.key_version:
                self.gerror(404, f"{name} not found.", "NOT_FOUND")
                return
            crc = crc32c(PEM.encode()) + (1 if mode["bad_pem_crc"] else 0)
            with lock:
                stats["public_keys"] += 1
            self.send(200, {"pem": PEM, "algorithm": "RSA_SIGN_PKCS1_2048_SHA256",
                            "pemCrc32c": str(crc), "name": name, "protectionLevel": "SOFTWARE"})
            return
        self.gerror(404, "not found", "NOT_FOUND")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if self.path == "/_test/mode":
            with lock:
                mode.update(json.loads(raw))
            self.send(200, mode)
            return
        if not (self.path.startswith("/v1/") and self.path.endswith(":asymmetricSign")):
            self.gerror(404, "not found", "NOT_FOUND")
            return
        name = self.path[4:-len(":asymmetricSign")]
        if not self.authorised():
            return
        if name != a.key_version:
            self.gerror(404, f"{name} not found.", "NOT_FOUND")
            return
        try:
            req = json.loads(raw)
            digest = base64.b64decode(req["digest"]["sha256"], validate=True)
            assert len(digest) == 32
        except Exception:
            self.gerror(400, "Invalid digest.", "INVALID_ARGUMENT")
            return
        verified = False
        if "digestCrc32c" in req:
            if int(req["digestCrc32c"]) != crc32c(digest):
                with lock:
                    stats["bad_digest_crc"] += 1
                self.gerror(400, "The checksum in field digest_crc32c did not match the data in "
                            "field digest.", "INVALID_ARGUMENT")
                return
            verified = True
        with tempfile.NamedTemporaryFile() as f:
            f.write(digest)
            f.flush()
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", a.key, "-pkeyopt",
                                  "digest:sha256", "-in", f.name], check=True,
                                 capture_output=True).stdout
        time.sleep(mode["sign_delay_ms"] / 1000)
        crc = crc32c(sig) + (1 if mode["bad_crc"] else 0)
        with lock:
            stats["signs"] += 1
        self.send(200, {"signature": base64.b64encode(sig).decode(), "signatureCrc32c": str(crc),
                        "verifiedDigestCrc32c": verified and not mode["unverified_digest"], "name": name,
                        "protectionLevel": "SOFTWARE"})


srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
print(f"fake KMS and metadata server on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
srv.serve_forever()
