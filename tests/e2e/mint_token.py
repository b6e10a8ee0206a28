#!/usr/bin/env python3
"""Mints session JWTs for the tests, good or deliberately bad.

usage: mint_token.py SECRET_FILE SUB SID [--exp-in S] [--alg HS256|none|ES256] [--role R]
                     [--jti J] [--kid K] [--key PEM]
HS256 signs with the secret file; ES256 (EC key) and RS256 (RSA key) sign with --key through
the openssl command line.
"""
import argparse, base64, hashlib, hmac, json, os, subprocess, time

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def der_to_raw(der):
    """An ECDSA signature from DER (SEQUENCE of two INTEGERs) to JWS's r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out

p = argparse.ArgumentParser()
p.add_argument("secret_file")
p.add_argument("sub")
p.add_argument("sid")
p.add_argument("--exp-in", type=int, default=600)
p.add_argument("--alg", default="HS256")
p.add_argument("--role", default="writer")
p.add_argument("--jti", default=os.urandom(8).hex())
p.add_argument("--kid")
p.add_argument("--key")
a = p.parse_args()
now = int(time.time())
hdr = {"alg": a.alg, "typ": "JWT"}
if a.kid:
    hdr["kid"] = a.kid
header = b64(json.dumps(hdr).encode())
claims = {"sub": a.sub, "sid": a.sid, "jti": a.jti, "role": a.role,
          "iat": now - 5, "exp": now + a.exp_in}
payload = b64(json.dumps(claims).encode())
signing = f"{header}.{payload}".encode()
if a.alg == "none":
    sig = ""
elif a.alg == "ES256":
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=signing,
                         check=True, capture_output=True).stdout
    sig = b64(der_to_raw(der))
elif a.alg == "RS256":
    sig = b64(subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=signing,
                             check=True, capture_output=True).stdout)
else:
    secret = open(a.secret_file, "rb").read().strip()
    sig = b64(hmac.new(secret, signing, hashlib.sha256).digest())
print(f"{header}.{payload}.{sig}")
