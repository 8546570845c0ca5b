#!/usr/bin/env python3
"""An HTTP proxy in front of an OCI registry that injects faults, for the tests.

    oci_fault_proxy.py --upstream http://127.0.0.1:PORT --port-file FILE

Forwards every request to --upstream and its answer back, unless a fault is
set for requests whose path contains MATCH:

    GET /_fault?mode=MODE&match=MATCH[&retry_after=N]   set it (mode=none clears)
    GET /_stats        {"faulted": N, "requests": N, "methods": {"GET": N, ...}}

Modes:
  corrupt     forward, but flip the last byte of the body (same size; the
              registry's Docker-Content-Digest header is kept)
  404         answer 404 with distribution's MANIFEST_UNKNOWN error body
  403         answer 403 with a DENIED error body (a registry that refuses)
  429, 503    answer that status with Retry-After: N (default 1)
"""
import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from serve_on_free_port import serve

# Host is forwarded: the registry builds upload Locations from it.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    upstream = urlparse(args.upstream)
    state = {"mode": "none", "match": "", "retry_after": "1", "faulted": 0, "requests": 0,
             "methods": {}}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def reply(self, status, headers, body):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self):
            url = urlparse(self.path)
            if url.path == "/_fault":
                q = parse_qs(url.query)
                with lock:
                    state["mode"] = q.get("mode", ["none"])[0]
                    state["match"] = q.get("match", [""])[0]
                    state["retry_after"] = q.get("retry_after", ["1"])[0]
                return self.reply(200, [], b"ok\n")
            if url.path == "/_stats":
                with lock:
                    body = json.dumps({k: state[k] for k in ("faulted", "requests", "methods")}).encode()
                return self.reply(200, [("Content-Type", "application/json")], body)
            with lock:
                state["requests"] += 1
                state["methods"][self.command] = state["methods"].get(self.command, 0) + 1
                mode = state["mode"] if state["match"] in self.path else "none"
                retry_after = state["retry_after"]
                if mode != "none":
                    state["faulted"] += 1
            if mode in ("429", "503"):
                return self.reply(int(mode), [("Retry-After", retry_after)], b"slow down\n")
            if mode == "404":
                body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
                                               "message": "manifest unknown"}]}).encode()
                return self.reply(404, [("Content-Type", "application/json")], body)
            if mode == "403":
                body = json.dumps({"errors": [{"code": "DENIED",
                                               "message": "requested access is denied"}]}).encode()
                return self.reply(403, [("Content-Type", "application/json")], body)
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            conn.close()
            if mode == "corrupt" and data:
                data = data[:-1] + bytes([data[-1] ^ 1])
            self.reply(answer.status,
                       [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS],
                       data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    serve(Handler, args.port_file)


if __name__ == "__main__":
    main()
