#!/usr/bin/env python3
"""A static file server with Range support, request accounting and faults.

Python standard library only:

    range_server.py --root DIR --port PORT [--host 127.0.0.1] [--fault MODE]
                    [--fault-file NAME] [--fault-offset N] [--substitute NAME=PATH]

- GET and HEAD of any file under --root; a single `Range: bytes=A-B` (or
  `A-`) gets 206 with Content-Range.
- GET /_stats (not counted): {"requests": N, "bytes": N, "connections": N,
  "ranges": [["/path", start, end_exclusive], ...]} (whole answers count as
  ranges [0, size); connections counts those that carried a counted request).
- --substitute NAME=PATH serves PATH's bytes for /NAME.

Fault modes, applied to --fault-file (a name under --root) only:
  corrupt        the byte at --fault-offset of the file is changed in every answer
  ignore-range   Range is ignored: 200 with the whole file
  drop-once      the first ranged answer covering --fault-offset sends its
                 headers and half its body, then closes the connection
  stall          ranged answers covering --fault-offset send headers, then nothing
  stall-midway   likewise, after half the body
"""

import argparse
import http.server
import json
import os
import re
import threading
import time

from serve_on_free_port import Server

LOCK = threading.Lock()
STATS = {"requests": 0, "bytes": 0, "connections": 0, "ranges": []}
DROPPED = set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fault", default="")
    p.add_argument("--fault-file", default="")
    p.add_argument("--fault-offset", type=int, default=0)
    p.add_argument("--substitute", action="append", default=[])
    args = p.parse_args()
    substitutes = dict(s.split("=", 1) for s in args.substitute)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_HEAD(self):
            self.serve(head=True)

        def do_GET(self):
            if self.path == "/_stats":
                with LOCK:
                    body = json.dumps(STATS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.serve(head=False)

        def serve(self, head):
            name = self.path.split("?", 1)[0].lstrip("/")
            path = substitutes.get(name, os.path.join(args.root, name))
            if ".." in name.split("/") or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                data = f.read()
            faulty = name == args.fault_file
            if faulty and args.fault == "corrupt" and args.fault_offset < len(data):
                b = bytearray(data)
                b[args.fault_offset] ^= 0x5A
                data = bytes(b)
            start, end, status = 0, len(data), 200
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if m and not (faulty and args.fault == "ignore-range"):
                start = int(m.group(1))
                end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
                if start >= len(data) or start >= end:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % len(data))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:end]
            covers = faulty and start <= args.fault_offset < end
            with LOCK:
                STATS["requests"] += 1
                if not getattr(self, "counted", False):
                    self.counted = True  # one handler serves one connection
                    STATS["connections"] += 1
                if not head:
                    STATS["bytes"] += len(body)
                    STATS["ranges"].append(["/" + name, start, end])
                drop = covers and status == 206 and args.fault == "drop-once" and name not in DROPPED
                if drop:
                    DROPPED.add(name)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
            self.end_headers()
            if head:
                return
            if drop:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if covers and status == 206 and args.fault in ("stall", "stall-midway"):
                if args.fault == "stall-midway":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                time.sleep(3600)
                return
            self.wfile.write(body)

    server = Server((args.host, args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
