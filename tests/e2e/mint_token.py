#!/usr/bin/env python3
"""Mints session JWTs for the tests, good or deliberately bad.

usage: mint_token.py SECRET_FILE SUB SID [--exp-in S] [--alg HS256|none] [--role R] [--jti J]
"""
import argparse, base64, hashlib, hmac, json, os, time

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

p = argparse.ArgumentParser()
p.add_argument("secret_file")
p.add_argument("sub")
p.add_argument("sid")
p.add_argument("--exp-in", type=int, default=600)
p.add_argument("--alg", default="HS256")
p.add_argument("--role", default="writer")
p.add_argument("--jti", default=os.urandom(8).hex())
a = p.parse_args()
secret = open(a.secret_file, "rb").read().strip()
now = int(time.time())
header = b64(json.dumps({"alg": a.alg, "typ": "JWT"}).encode())
claims = {"sub": a.sub, "sid": a.sid, "jti": a.jti, "role": a.role,
          "iat": now - 5, "exp": now + a.exp_in}
payload = b64(json.dumps(claims).encode())
signing = f"{header}.{payload}".encode()
sig = "" if a.alg == "none" else b64(hmac.new(secret, signing, hashlib.sha256).digest())
print(f"{header}.{payload}.{sig}")
