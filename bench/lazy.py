#!/usr/bin/env python3
"""Lazy remote mounts: a large v3 package from nginx, lazily and with --no-lazy.

Packs one package (`bench/lazy@1.0.0`: FILES small files in 100 folders and 4
large ones, MIB MiB of incompressible bytes in all), lists it with
`webcfs index`, serves it with nginx on 127.0.0.1, and measures with a cold
cache each time (emptied before every sample):

- mount: `webcfs mount` until the first stat of the tree answers, and the
  requests nginx saw meanwhile (every one waits for the one before: the count
  is the round trips a mount costs on a network with latency);
- cold cat: one small file read right after the mount, and its requests;
- 1 %: bytes nginx sent for the package while 1 % of the files (random,
  seeded) are read, against the package size;
- full tar: `tar cf - .` of the cold lazy mount piped to a byte count, against
  `curl -o` of the whole package plus `tar` of a warm mount (whole package in
  the cache), in the same run;
- --no-lazy: the mount (whole download and verification first) and cold cat.

The rows are measured twice: on loopback, and through
bench/benchlib/delay_proxy.py (a user-space proxy: this kernel has no
sch_netem) adding --rtt-ms of round trip and a --rate-mbit link, as the
issue's 20 ms / 100 Mbit/s network.

    bench/lazy.py [--webcfs PATH] [--mib N] [--files N] [--reps N]
                  [--rtt-ms MS] [--rate-mbit N] [--delayed-reps N] [--workdir DIR] [--out FILE]

Root only (mounts). Needs nginx, curl and tar. Writes a Markdown report
(default bench/results/lazy.md) and prints it.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPEC = "bench/lazy"
FILE = "bench--lazy@1.0.0.webc"
DELAY_PROXY = os.path.join(HERE, "benchlib", "delay_proxy.py")
LARGE = 4


def run(argv, check=True, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench/lazy: {' '.join(argv)}: exit {r.returncode}: {r.stderr.decode().strip()}")
    return r


def make_package(webcfs, workdir, mib, files):
    """(registry dir, relative paths of the small files, package size)."""
    reg = os.path.join(workdir, "registry")
    stamp = os.path.join(workdir, f"registry.stamp-{mib}-{files}")
    small = [f"d{i % 100:02d}/f{i:05d}.txt" for i in range(files)]
    if not os.path.exists(stamp):
        shutil.rmtree(reg, ignore_errors=True)
        src = os.path.join(workdir, "src")
        shutil.rmtree(src, ignore_errors=True)
        data = os.path.join(src, "data")
        rng = random.Random(24)
        total = mib << 20
        large_each = total // 2 // LARGE
        small_each = (total - large_each * LARGE) // files
        for i in range(LARGE):
            os.makedirs(os.path.join(data, "large"), exist_ok=True)
            with open(os.path.join(data, "large", f"l{i}.bin"), "wb") as f:
                for _ in range(large_each >> 20):
                    f.write(rng.randbytes(1 << 20))
        for rel in small:
            path = os.path.join(data, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(rng.randbytes(small_each))
        with open(os.path.join(src, "wasmer.toml"), "w") as f:
            f.write('[package]\nname = "bench/lazy"\nversion = "1.0.0"\n\n[fs]\n"/data" = "data"\n')
        os.makedirs(reg)
        run([webcfs, "pack", src, "-o", os.path.join(reg, FILE)])
        run([webcfs, "index", reg])
        shutil.rmtree(src)
        open(stamp, "w").close()
    return reg, small, os.path.getsize(os.path.join(reg, FILE))


class Nginx:
    """nginx on 127.0.0.1 serving `root`, logging each request's body bytes."""

    def __init__(self, root, workdir):
        self.work = tempfile.mkdtemp(prefix="nginx-", dir=workdir)
        w = self.work
        os.makedirs(os.path.join(w, "tmp"))
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = os.path.join(w, "access.log")
        conf = os.path.join(w, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"user root;\npid {w}/nginx.pid;\nerror_log {w}/error.log;\n"
                    "worker_processes 1;\nevents { worker_connections 256; }\n"
                    "http {\n  log_format bytes '$request_uri $body_bytes_sent';\n"
                    f"  access_log {self.log} bytes;\n"
                    + "".join(f"  {k}_temp_path {w}/tmp;\n"
                              for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                    + f"  sendfile on;\n  server {{\n    listen 127.0.0.1:{self.port};\n"
                    f"    root {root};\n  }}\n}}\n")
        self.proc = subprocess.Popen(["nginx", "-p", w, "-c", conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                urllib.request.urlopen(self.url() + "index.json").close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("bench/lazy: nginx does not answer")
                time.sleep(0.05)
        self.mark = 0

    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def since_mark(self):
        """(requests, package body bytes) logged since the last call."""
        time.sleep(0.05)  # nginx writes its log line after the answer
        with open(self.log) as f:
            lines = f.read().splitlines()
        new = lines[self.mark:]
        self.mark = len(lines)
        body = sum(int(l.split()[1]) for l in new if l.startswith("/" + FILE))
        return len(new), body

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


class DelayProxy:
    """benchlib/delay_proxy.py in front of 127.0.0.1:`port`."""

    def __init__(self, port, rtt_ms, rate_mbit, workdir):
        port_file = os.path.join(tempfile.mkdtemp(prefix="delay-", dir=workdir), "port")
        self.proc = subprocess.Popen(
            [sys.executable, DELAY_PROXY, "--to", f"127.0.0.1:{port}", "--rtt-ms", str(rtt_ms),
             "--rate-mbit", str(rate_mbit), "--listen", "127.0.0.1:0", "--port-file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline:
                sys.exit("bench/lazy: delay_proxy does not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read().strip())

    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Mounted:
    def __init__(self, webcfs, url, cache, workdir, extra=()):
        self.webcfs = webcfs
        self.mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
        t0 = time.perf_counter()
        run([webcfs, "mount", SPEC, self.mnt, "--registry", url, "--cache", cache, *extra])
        os.stat(os.path.join(self.mnt, "data"))
        self.seconds = time.perf_counter() - t0

    def path(self, rel):
        return os.path.join(self.mnt, "data", rel)

    def close(self):
        run([self.webcfs, "unmount", self.mnt])
        os.rmdir(self.mnt)


def timed_read(path):
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - t0


def timed_head(path, n):
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        f.read(n)
    return time.perf_counter() - t0


def drop_content(cache):
    """Empties the cache but for the registries' stored answers."""
    for name in os.listdir(cache):
        if name != "answers":
            path = os.path.join(cache, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def timed_tar(root):
    t0 = time.perf_counter()
    tar = subprocess.Popen(["tar", "cf", "-", "."], cwd=root, stdout=subprocess.PIPE)
    n = 0
    while True:
        chunk = tar.stdout.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    if tar.wait() != 0:
        sys.exit("bench/lazy: tar failed")
    return time.perf_counter() - t0, n


def cell(samples, unit="ms"):
    scale = 1000 if unit == "ms" else 1
    return (f"{statistics.median(samples) * scale:.0f} {unit} "
            f"[{min(samples) * scale:.0f}–{max(samples) * scale:.0f}]")


def measure(webcfs, nginx, url, cache, workdir, small, rng, reps):
    """The rows, `reps` samples each, with the package served at `url`."""
    rows = {k: [] for k in ("mount", "mount_req", "cat", "cat_req", "pct_bytes", "answered_mount",
                        "answered_req", "large_head", "tar", "curl", "warm_tar", "nolazy_mount",
                        "nolazy_req", "nolazy_cat")}
    for _ in range(reps):
        # Lazy: mount, one cold cat, 1 % of the files.
        shutil.rmtree(cache, ignore_errors=True)
        nginx.since_mark()
        m = Mounted(webcfs, url, cache, workdir)
        rows["mount"].append(m.seconds)
        rows["mount_req"].append(nginx.since_mark()[0])
        rows["cat"].append(timed_read(m.path(rng.choice(small))))
        rows["cat_req"].append(nginx.since_mark()[0])
        for rel in rng.sample(small, max(1, len(small) // 100)):
            timed_read(m.path(rel))
        rows["pct_bytes"].append(nginx.since_mark()[1])
        m.close()
        # Again with the registry's answer stored (as within its 10 minutes):
        # the mount fetches only the header; then 4 KiB of a large file.
        drop_content(cache)
        nginx.since_mark()
        m = Mounted(webcfs, url, cache, workdir)
        rows["answered_mount"].append(m.seconds)
        rows["answered_req"].append(nginx.since_mark()[0])
        rows["large_head"].append(timed_head(m.path("large/l0.bin"), 4096))
        m.close()
        # Full cold tar of a lazy mount.
        shutil.rmtree(cache, ignore_errors=True)
        m = Mounted(webcfs, url, cache, workdir)
        rows["tar"].append(timed_tar(m.mnt)[0])
        m.close()
        # curl -o, then tar of a warm (whole, cached) mount.
        out = os.path.join(workdir, "curl.webc")
        t0 = time.perf_counter()
        run(["curl", "-sS", "--fail", "-o", out, url + FILE])
        rows["curl"].append(time.perf_counter() - t0)
        os.unlink(out)
        shutil.rmtree(cache, ignore_errors=True)
        nginx.since_mark()
        m = Mounted(webcfs, url, cache, workdir, ["--no-lazy"])
        rows["nolazy_mount"].append(m.seconds)
        rows["nolazy_req"].append(nginx.since_mark()[0])
        rows["nolazy_cat"].append(timed_read(m.path(rng.choice(small))))
        rows["warm_tar"].append(timed_tar(m.mnt)[0])
        m.close()
    return rows


def table(rows, size):
    med = statistics.median
    curl_tar = [c + t for c, t in zip(rows["curl"], rows["warm_tar"])]
    return f"""| measure | lazy (default) | `--no-lazy` |
|---|---|---|
| mount until the tree answers | {cell(rows['mount'])} | {cell(rows['nolazy_mount'])} |
| requests (round trips) during the mount | {med(rows['mount_req']):.0f} | {med(rows['nolazy_req']):.0f} |
| mount, the registry's answer stored | {cell(rows['answered_mount'])} | |
| requests during that mount | {med(rows['answered_req']):.0f} | |
| first 4 KiB of a {size // 2 // LARGE >> 20} MiB file, cold | {cell(rows['large_head'])} | |
| cold `cat` of one small file | {cell(rows['cat'])} | {cell(rows['nolazy_cat'])} (already local) |
| requests for that `cat` | {med(rows['cat_req']):.0f} | 0 |
| package bytes sent reading 1 % of the files | {med(rows['pct_bytes']) / 1e6:.1f} MB = {100 * med(rows['pct_bytes']) / size:.1f} % of the package | (whole package) |
| full `tar` of a cold mount | {cell(rows['tar'])} | |
| `curl -o` + `tar` of a warm mount | {cell(curl_tar)} (curl {cell(rows['curl'])}, tar {cell(rows['warm_tar'])}) | |
| cold lazy tar ÷ (curl + warm tar) | **×{med(rows['tar']) / med(curl_tar):.2f}** | |
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--webcfs", default=os.path.join(ROOT, "build/release/daemon/webcfs"))
    p.add_argument("--mib", type=int, default=500)
    p.add_argument("--files", type=int, default=10000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rtt-ms", type=int, default=20)
    p.add_argument("--rate-mbit", type=int, default=100)
    p.add_argument("--delayed-reps", type=int, default=1)
    p.add_argument("--workdir", default="/var/tmp/webcfs-bench-lazy")
    p.add_argument("--out", default=os.path.join(HERE, "results", "lazy.md"))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/lazy: run as root (mounts)")
    for tool in ("nginx", "curl", "tar"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/lazy: {tool} is missing (apt-get install nginx curl tar)")
    webcfs = os.path.abspath(args.webcfs)
    os.makedirs(args.workdir, exist_ok=True)
    reg, small, size = make_package(webcfs, args.workdir, args.mib, args.files)
    nginx = Nginx(reg, args.workdir)
    cache = os.path.join(args.workdir, "cache")
    rng = random.Random(1)
    try:
        loop_rows = measure(webcfs, nginx, nginx.url(), cache, args.workdir, small, rng, args.reps)
        proxy = DelayProxy(nginx.port, args.rtt_ms, args.rate_mbit, args.workdir)
        try:
            delayed_rows = measure(webcfs, nginx, proxy.url(), cache, args.workdir, small, rng,
                                   args.delayed_reps)
        finally:
            proxy.stop()
    finally:
        nginx.stop()
        shutil.rmtree(cache, ignore_errors=True)

    sha = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.decode().strip()
    report = f"""# Lazy remote mounts: a {size / 1e6:.0f} MB v3 package from nginx

Generated by `bench/lazy.py --mib {args.mib} --files {args.files} --reps {args.reps} --rtt-ms {args.rtt_ms} --rate-mbit {args.rate_mbit} --delayed-reps {args.delayed_reps}`
on {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} (webcfs {sha}).

Package `{SPEC}@1.0.0`: {len(small)} small files of {(size // 2) // len(small)} bytes in 100
folders and {LARGE} files of {size // 2 // LARGE >> 20} MiB, incompressible, {size} bytes, served by
nginx on 127.0.0.1. Requests are counted at nginx; each waits for the one before, so they are
round trips. Cache emptied before every mount (but for the stored registry answers in the
"answer stored" rows). Median [min–max].

## Loopback ({args.reps} samples)

{table(loop_rows, size)}
## {args.rtt_ms} ms round trip, {args.rate_mbit} Mbit/s ({args.delayed_reps} samples)

Through `bench/benchlib/delay_proxy.py --rtt-ms {args.rtt_ms} --rate-mbit {args.rate_mbit}` (user
space: this kernel has no `sch_netem`; TCP runs on loopback on both sides, so slow start over the
long path is not modelled), for webcfs and curl alike.

{table(delayed_rows, size)}"""
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
