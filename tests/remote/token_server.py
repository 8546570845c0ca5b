#!/usr/bin/env python3
"""A token server for CNCF distribution's `auth: token:` config, for the tests.

GET /token?service=S&scope=repository:NAME:ACTIONS answers {"token": JWT, ...}:
anonymous requests get the pull action only; a request with Basic credentials
listed in --users gets every action it asks for; wrong credentials get 401.
The JWT is RS256, signed with `openssl dgst` (standard library only), and
carries its certificate in `x5c`, which the registry checks against its
rootcertbundle. GET /_stats answers {"anonymous": N, "authenticated": N}.
"""
import argparse
import base64
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from serve_on_free_port import serve


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--users", default="", help="user:password,...")
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()

    der = subprocess.run(["openssl", "x509", "-in", args.cert, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    users = dict(u.split(":", 1) for u in args.users.split(",") if u)
    stats = {"anonymous": 0, "authenticated": 0}
    lock = threading.Lock()

    def sign(claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        return signing_input + "." + b64url(sig)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/_stats":
                with lock:
                    return self.answer(200, stats)
            if url.path != "/token":
                return self.answer(404, {"error": "not found"})
            query = parse_qs(url.query)
            user = None
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    name, password = "", None
                if users.get(name) != password:
                    return self.answer(401, {"error": "wrong credentials"})
                user = name
            access = []
            for scope in query.get("scope", []):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = [a for a in actions.split(",") if a]
                granted = wanted if user else [a for a in wanted if a == "pull"]
                access.append({"type": kind, "name": name, "actions": granted})
            now = int(time.time())
            claims = {"iss": args.issuer, "sub": user or "", "aud": query.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": b64url(os.urandom(12)), "access": access}
            with lock:
                stats["authenticated" if user else "anonymous"] += 1
            token = sign(claims)
            self.answer(200, {"token": token, "access_token": token, "expires_in": 300})

    serve(Handler, args.port_file)


if __name__ == "__main__":
    main()
