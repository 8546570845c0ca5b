#!/usr/bin/env python3
"""A test double of Wasmer's registry API, and a file server with faults.

Python standard library only, so that any test (webcfs's C++ tests, the
Wasmer-parity suite running Wasmer's own client) can start it:

    wasmer_registry.py --root DIR [--catalog CATALOG.json] [--host 127.0.0.1] [--port 0]
                       [--port-file FILE] [--fault MODE] [--fault-file NAME]
                       [--delay SECONDS] [--token TOKEN]
                       [--query-delay SECONDS] [--file-delay SECONDS]

What it serves (on --host, default 127.0.0.1):
- POST /graphql with {"query": "..."}: the two queries Wasmer's runtime client
  sends (`getPackage(name: "...")`, `getPackageRelease(hash: "sha256:...")`),
  accepted only when the text is exactly Wasmer's (with the name or hash spliced
  in, as Wasmer does); the answers have exactly the documented shapes: `data.info
  .defaultFrontend` always, both `v2` and `v3` distributions of every version.
- GET (and HEAD) of any file under --root, honouring `Range: bytes=N-` (206).
- With --token, every request without `Authorization: Bearer TOKEN` gets 401.
- GET /_stats: {"requests": N, "graphql": N, "max_queries_in_flight": N,
  "max_in_flight": N (requests of any kind being answered at once),
  "connections": N (TCP connections accepted, this one included),
  "files": {"<path>": N}}; not counted as a request.

CATALOG.json lists the packages the API knows (files are under --root); it is
read again whenever it changes, so rewriting it publishes a version:
    {"packages": {"ns/name": [{"version": "1.0.0", "file": "ns--name@1.0.0.webc",
                              "sha256": "<64 hex>", "manifest": "<manifest JSON text>",
                              "archived": false}]}}

Fault modes (--fault), applied to file downloads unless said otherwise; with
--fault-file only to that file:
  truncate        send half the body, then close (Content-Length says all)
  truncate-once   the same, for the first request of each file only
  short           a complete answer whose body lacks its last bytes
  long            a complete answer with extra bytes appended
  wrong-hash      the API reports another sha256 for every version
  sleep           wait --delay seconds before the body
  503-once        the first request (of any kind) gets 503 with Retry-After: 1
  404             files answer 404
  401             every request answers 401
  malformed-json  the API answers with text that is not JSON
  graphql-errors  the API answers {"errors": [{"message": ...}], "data": null}
  redirect-loop   files redirect to themselves
"""

import argparse
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse

from serve_on_free_port import Server

# Wasmer's query texts (lib/wasix/src/runtime/resolver/backend_source.rs).
PACKAGE_QUERY = """{
    getPackage(name: "$NAME") {
        packageName
        namespace
        versions {
          version
          isArchived
          v2: distribution(version: V2) {
            piritaDownloadUrl
            piritaSha256Hash
            webcManifest
          }
          v3: distribution(version: V3) {
            piritaDownloadUrl
            piritaSha256Hash
            webcManifest
          }
        }
    }
    info {
        defaultFrontend
    }
}"""

HASH_QUERY = """{
    getPackageRelease(hash: "$HASH") {
        piritaManifest
        isArchived
        webcUrl
    }
}"""


def template_regex(template, placeholder):
    """A regex matching `template` with `placeholder` replaced by any quoted-safe text."""
    before, after = template.split(placeholder)
    return re.compile(re.escape(before) + r'([^"\\]*)' + re.escape(after) + r"\Z")


PACKAGE_RE = template_regex(PACKAGE_QUERY, "$NAME")
# Wasmer's runtime as shipped in @wasmer/sdk 0.16.0 also asks each
# distribution's `webcSize`; answered only when asked, as GraphQL does.
PACKAGE_SIZED_QUERY = PACKAGE_QUERY.replace("webcManifest\n", "webcManifest\n            webcSize\n")
PACKAGE_SIZED_RE = template_regex(PACKAGE_SIZED_QUERY, "$NAME")
HASH_RE = template_regex(HASH_QUERY, "$HASH")


class State:
    def __init__(self, args):
        self.root = os.path.abspath(args.root)
        self.catalog_path = args.catalog
        self.catalog_stamp = None
        self._catalog = {"packages": {}}
        self.fault = args.fault
        self.fault_file = args.fault_file
        self.delay = args.delay
        self.query_delay = args.query_delay
        self.file_delay = args.file_delay
        self.token = args.token
        self.lock = threading.Lock()
        self.requests = 0
        self.graphql = 0
        self.queries_in_flight = 0
        self.max_queries_in_flight = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0
        self.files = {}
        self.seen = set()  # "once" faults already applied

    @property
    def catalog(self):
        """The catalog file as it is now: rewriting it publishes versions."""
        if not self.catalog_path:
            return self._catalog
        st = os.stat(self.catalog_path)
        with self.lock:
            if self.catalog_stamp != (st.st_ino, st.st_size, st.st_mtime_ns):
                with open(self.catalog_path, encoding="utf-8") as f:
                    self._catalog = json.load(f)
                self.catalog_stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            return self._catalog

    def once(self, key):
        with self.lock:
            if key in self.seen:
                return False
            self.seen.add(key)
            return True


def tracked(answer):
    """Counts the requests being answered at once (max_in_flight)."""
    def wrapper(self):
        with self.state.lock:
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        try:
            answer(self)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1
    return wrapper


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.state.lock:
            self.state.connections += 1
    server_version = "wasmer-registry-double"

    def log_message(self, fmt, *args):  # quiet unless asked
        if os.environ.get("WASMER_REGISTRY_LOG"):
            sys.stderr.write("%s\n" % (fmt % args))

    @property
    def state(self):
        return self.server.state

    def send_body(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def count(self, path):
        path = urllib.parse.unquote(path)
        with self.state.lock:
            self.state.requests += 1
            if path == "/graphql":
                self.state.graphql += 1
            else:
                self.state.files[path] = self.state.files.get(path, 0) + 1

    def common_faults(self):
        """Faults for every request; True when the answer was sent."""
        fault = self.state.fault
        token = self.state.token
        if token and self.headers.get("Authorization") != "Bearer " + token:
            self.send_body(401, b'{"error": "credentials needed"}')
            return True
        if fault == "401":
            self.send_body(401, b'{"error": "unauthorized"}')
            return True
        if fault == "503-once" and self.state.once("503"):
            self.send_body(503, b"busy", "text/plain", [("Retry-After", "1")])
            return True
        return False

    @tracked
    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        self.count(path)
        if self.common_faults():
            return
        if path != "/graphql":
            self.send_body(404, b"not found", "text/plain")
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self.send_body(415, b"expected application/json", "text/plain")
            return
        fault = self.state.fault
        if fault == "malformed-json":
            self.send_body(200, b'{"data": {"getPackage": ')
            return
        if fault == "graphql-errors":
            self.answer({"errors": [{"message": "internal registry failure (injected)"}],
                         "data": None})
            return
        try:
            query = json.loads(raw)["query"]
        except (ValueError, KeyError, TypeError):
            self.send_body(400, b'{"errors": [{"message": "bad request body"}]}')
            return
        sized = PACKAGE_SIZED_RE.match(query)
        m = PACKAGE_RE.match(query) or sized
        if m:
            with self.state.lock:
                self.state.queries_in_flight += 1
                self.state.max_queries_in_flight = max(self.state.max_queries_in_flight,
                                                       self.state.queries_in_flight)
            time.sleep(self.state.query_delay)
            with self.state.lock:
                self.state.queries_in_flight -= 1
            self.answer({"data": {"getPackage": self.package(m.group(1), bool(sized)),
                                  "info": {"defaultFrontend": self.frontend()}}})
            return
        m = HASH_RE.match(query)
        if m:
            self.answer({"data": {"getPackageRelease": self.release(m.group(1))}})
            return
        self.answer({"errors": [{"message": "query is not one of Wasmer's"}], "data": None})

    def answer(self, doc):
        self.send_body(200, json.dumps(doc).encode())

    def frontend(self):
        # Download URLs name the host the client asked, as real servers do, so
        # that a proxy in front of the double also carries the downloads.
        host = self.headers.get("Host")
        return "http://" + host if host else "http://%s:%d" % self.server.server_address[:2]

    def file_url(self, name):
        return "%s/%s" % (self.frontend(), urllib.parse.quote(name))

    def claimed_hash(self, sha, name):
        if self.state.fault == "wrong-hash" and self.state.fault_file in (None, name):
            return "%064x" % (int(sha, 16) ^ 1)
        return sha

    def package(self, full_name, sized=False):
        versions = self.state.catalog["packages"].get(full_name)
        if versions is None:
            return None
        namespace, name = full_name.split("/", 1)
        out = []
        for v in versions:
            dist = {"piritaDownloadUrl": self.file_url(v["file"]),
                    "piritaSha256Hash": self.claimed_hash(v["sha256"], v["file"]),
                    "webcManifest": v["manifest"]}
            if sized:
                dist["webcSize"] = os.path.getsize(os.path.join(self.state.root, v["file"]))
            out.append({"version": v["version"], "isArchived": bool(v.get("archived")),
                        "v2": dict(dist), "v3": dict(dist)})
        return {"packageName": name, "namespace": namespace, "versions": out}

    def release(self, hash_text):
        sha = hash_text[len("sha256:"):] if hash_text.startswith("sha256:") else hash_text
        for versions in self.state.catalog["packages"].values():
            for v in versions:
                if v["sha256"] == sha:
                    return {"piritaManifest": v["manifest"], "isArchived": bool(v.get("archived")),
                            "webcUrl": self.file_url(v["file"])}
        return None

    def do_HEAD(self):
        self.do_GET()

    @tracked
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_stats":
            with self.state.lock:
                doc = {"requests": self.state.requests, "graphql": self.state.graphql,
                       "max_queries_in_flight": self.state.max_queries_in_flight,
                       "max_in_flight": self.state.max_in_flight,
                       "connections": self.state.connections,
                       "files": dict(self.state.files)}
            self.answer(doc)
            return
        self.count(path)
        if self.common_faults():
            return
        name = urllib.parse.unquote(path.lstrip("/"))
        full = os.path.normpath(os.path.join(self.state.root, name))
        if not full.startswith(self.state.root + os.sep) or not os.path.isfile(full):
            self.send_body(404, b"not found", "text/plain")
            return
        fault = self.state.fault
        if self.state.fault_file and self.state.fault_file != name:
            fault = None
        if fault == "404":
            self.send_body(404, b"not found (injected)", "text/plain")
            return
        if fault == "redirect-loop":
            self.send_body(302, b"", "text/plain", [("Location", self.path)])
            return
        with open(full, "rb") as f:
            data = f.read()
        time.sleep(self.state.file_delay)
        self.send_file(data, fault, name)

    def send_file(self, data, fault, name):
        start = 0
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if m and int(m.group(1)) < len(data):
            start = int(m.group(1))
        body = data[start:]
        truncate = fault == "truncate" or (fault == "truncate-once" and self.state.once(name))
        if fault == "short":
            body = body[:-16]
        if fault == "long":
            body = body + b"\0" * 64
        if fault == "sleep":
            time.sleep(self.state.delay)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/webc")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True)
    p.add_argument("--catalog")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--fault")
    p.add_argument("--fault-file")
    p.add_argument("--delay", type=float, default=5.0)
    p.add_argument("--query-delay", type=float, default=0.0)
    p.add_argument("--file-delay", type=float, default=0.0)
    p.add_argument("--token")
    args = p.parse_args()
    server = Server((args.host, args.port), Handler)
    server.state = State(args)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
