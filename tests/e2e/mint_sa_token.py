#!/usr/bin/env python3
"""A stand-in for a Kubernetes cluster's token issuer, for the runner-credential tests.

  mint_sa_token.py jwks KEY.pem KID            -> prints a JWKS with the key's public half
  mint_sa_token.py token KEY.pem KID ISS POD_UID [--aud A] [--exp-in S] [--alg RS256]
                                               -> prints a projected service-account token
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
    n, e = public_numbers(sys.argv[2])
    print(json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": sys.argv[3],
                                "n": b64(n), "e": b64(e)}]}))
    sys.exit(0)

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
