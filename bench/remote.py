#!/usr/bin/env python3
"""Remote registries: resolve + mount of a 20-package tree, and a 200 MB download.

Serves one registry three ways — Wasmer's registry API (the test double
tests/remote/wasmer_registry.py), a static mirror (nginx) and a local
directory registry — and times `webcfs mount` (from the command to the
first answered stat of the mountpoint, as bench.py does) of the same tree
from each, with a cold cache (emptied before every sample) and a warm one
(packages and answers cached), counting the requests each server saw. Then
downloads a 200 MB package through webcfs (`webcfs resolve`, which downloads,
hashes and opens it) and with `curl -o` from the same nginx URL.

Two networks, in one run:
- loopback: servers on 127.0.0.1;
- netem: webcfs and curl run in a network namespace the script creates,
  joined to the servers by a veth pair whose namespace end delays every
  packet by 20 ms (`tc qdisc ... netem delay 20ms`): 20 ms round trips.
  The namespace and veth are removed at exit.
- delay, when the kernel has no netem: the servers on 127.0.0.1 behind
  bench/benchlib/delay_proxy.py, which adds the same 20 ms round trips.

    bench/remote.py [--webcfs PATH] [--reps N] [--big-mib N] [--workdir DIR] [--out FILE]

Root only (network namespaces, mounts). Needs iproute2 (ip, tc), nginx and
curl (Debian packages of those names), Python 3 standard library only.
Writes a Markdown report (default bench/results/remote.md) and prints it.
"""
import argparse
import json
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
DOUBLE = os.path.join(ROOT, "tests", "remote", "wasmer_registry.py")
DELAY_PROXY = os.path.join(HERE, "benchlib", "delay_proxy.py")

NETNS = "webcfs-bench"
VETH_HOST, VETH_NS = "wcb-host", "wcb-ns"
HOST_IP, NS_IP = "10.213.77.1", "10.213.77.2"
DELAY_MS = 20  # --rtt-ms

# The tree: bench/app uses 4 packages, each of which uses 3 or 4 leaves: 20
# packages on 3 levels, so that answers come in 3 rounds.
MIDS = 4
LEAVES = [4, 4, 4, 3]
PACKAGE_KIB = 256


def run(argv, netns=False, check=True, **kw):
    if netns:
        # Only the network namespace: `ip netns exec` would also give the
        # command a mount namespace of its own, hiding its FUSE mount.
        argv = ["nsenter", f"--net=/run/netns/{NETNS}"] + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench/remote: {' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def pack(webcfs, src, name, uses, files, out_dir):
    """Packs bench/<name>@1.0.0 with `files` ({name: bytes}) and `uses` (names)."""
    pkg = os.path.join(src, name)
    data = os.path.join(pkg, "data")
    os.makedirs(data, exist_ok=True)
    for fname, blob in files.items():
        with open(os.path.join(data, fname), "wb") as f:
            f.write(blob)
    toml = f'[package]\nname = "bench/{name}"\nversion = "1.0.0"\n\n'
    if uses:
        toml += "[dependencies]\n" + "".join(f'"bench/{u}" = "1.0.0"\n' for u in uses) + "\n"
    toml += f'[fs]\n"/{name}" = "data"\n'
    with open(os.path.join(pkg, "wasmer.toml"), "w") as f:
        f.write(toml)
    out = os.path.join(out_dir, f"bench--{name}@1.0.0.webc")
    run([webcfs, "pack", pkg, "-o", out])
    return out


def make_registry(webcfs, workdir, big_mib):
    reg = os.path.join(workdir, "registry")
    stamp = os.path.join(workdir, f"registry.stamp-{PACKAGE_KIB}-{big_mib}")
    if os.path.exists(stamp):
        return reg
    shutil.rmtree(reg, ignore_errors=True)
    src = os.path.join(workdir, "src")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(reg)
    rng = random.Random(20)
    blob = lambda: rng.randbytes(PACKAGE_KIB << 10)  # noqa: E731 (incompressible)
    mids = []
    for m in range(MIDS):
        leaves = [f"leaf{m}{i}" for i in range(LEAVES[m])]
        for leaf in leaves:
            pack(webcfs, src, leaf, [], {"blob": blob()}, reg)
        pack(webcfs, src, f"mid{m}", leaves, {"blob": blob()}, reg)
        mids.append(f"mid{m}")
    pack(webcfs, src, "app", mids, {"blob": blob()}, reg)
    big = os.path.join(src, "big", "data")
    os.makedirs(big, exist_ok=True)
    with open(os.path.join(big, "big.bin"), "wb") as f:
        for _ in range(big_mib):
            f.write(rng.randbytes(1 << 20))
    pack(webcfs, src, "big", [], {}, reg)
    shutil.rmtree(src)
    run([webcfs, "index", reg])
    write_catalog(reg, os.path.join(workdir, "catalog.json"))
    open(stamp, "w").close()
    return reg


def write_catalog(reg, path):
    """The registry double's catalog, from the index `webcfs index` wrote."""
    with open(os.path.join(reg, "index.json")) as f:
        index = json.load(f)
    packages = {}
    for name, versions in index["packages"].items():
        for v in versions:
            manifest = {"package": {"wapm": {"name": name, "version": v["version"]}},
                        "use": v.get("uses", {})}
            packages.setdefault(name, []).append(
                {"version": v["version"], "file": v["file"], "sha256": v["sha256"],
                 "manifest": json.dumps(manifest)})
    with open(path, "w") as f:
        json.dump({"packages": packages}, f)


class Servers:
    """The registry double and nginx on `host`, serving `reg`; with `rtt_ms`,
    clients reach them through delay proxies (benchlib/delay_proxy.py)."""

    def __init__(self, reg, catalog, host, workdir, rtt_ms=0):
        self.host = host
        self.proxies = []
        self.work = tempfile.mkdtemp(prefix="srv-", dir=workdir)
        port_file = os.path.join(self.work, "double.port")
        self.double = subprocess.Popen(
            [sys.executable, DOUBLE, "--root", reg, "--catalog", catalog, "--host", host,
             "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.nginx_port = free_port(host)
        conf = os.path.join(self.work, "nginx.conf")
        self.access_log = os.path.join(self.work, "access.log")
        w = self.work
        with open(conf, "w") as f:
            f.write(f"user root;\npid {w}/nginx.pid;\nerror_log {w}/error.log;\n"
                    "worker_processes 1;\nevents { worker_connections 256; }\n"
                    f"http {{\n  access_log {self.access_log};\n"
                    + "".join(f"  {k}_temp_path {w}/tmp;\n"
                              for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                    + f"  sendfile on;\n  server {{\n    listen {host}:{self.nginx_port};\n"
                    f"    root {reg};\n  }}\n}}\n")
        self.nginx = subprocess.Popen(["nginx", "-p", w, "-c", conf, "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(port_file) and time.time() < deadline:
            time.sleep(0.05)
        with open(port_file) as f:
            self.double_port = int(f.read())
        wait_http(f"http://{host}:{self.nginx_port}/index.json")
        wait_http(f"http://{host}:{self.double_port}/_stats")
        self.api_port, self.mirror_port = self.double_port, self.nginx_port
        if rtt_ms:
            self.api_port = self.delay(self.double_port, rtt_ms)
            self.mirror_port = self.delay(self.nginx_port, rtt_ms)

    def delay(self, port, rtt_ms):
        """The port of a new delay proxy in front of `port`."""
        port_file = os.path.join(self.work, f"delay-{port}.port")
        self.proxies.append(subprocess.Popen(
            [sys.executable, DELAY_PROXY, "--to", f"{self.host}:{port}", "--rtt-ms", str(rtt_ms),
             "--listen", f"{self.host}:0", "--port-file", port_file]))
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline:
                sys.exit("bench/remote: the delay proxy did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            return int(f.read())

    def api(self):
        return f"http://{self.host}:{self.api_port}/graphql"

    def mirror(self):
        return f"http://{self.host}:{self.mirror_port}/"

    def requests(self, source):
        if source == "api":
            with urllib.request.urlopen(f"http://{self.host}:{self.double_port}/_stats") as r:
                return json.load(r)["requests"]
        if source == "nginx":
            with open(self.access_log) as f:
                return sum(1 for _ in f)
        return 0

    def stop(self):
        for p in [self.double, self.nginx] + self.proxies:
            p.terminate()
            p.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def free_port(host):
    import socket
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(url):
    deadline = time.time() + 10
    while True:
        try:
            urllib.request.urlopen(url).close()
            return
        except OSError:
            if time.time() > deadline:
                sys.exit(f"bench/remote: {url} does not answer")
            time.sleep(0.05)


def netns_up():
    """None when ready, else why the namespace with netem cannot be made."""
    netns_down()
    for argv in (["ip", "netns", "add", NETNS],
                 ["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS],
                 ["ip", "link", "set", VETH_NS, "netns", NETNS],
                 ["ip", "addr", "add", f"{HOST_IP}/24", "dev", VETH_HOST],
                 ["ip", "link", "set", VETH_HOST, "up"],
                 ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_IP}/24", "dev", VETH_NS],
                 ["ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_NS, "up"],
                 ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
                 ["ip", "netns", "exec", NETNS, "tc", "qdisc", "add", "dev", VETH_NS, "root",
                  "netem", "delay", f"{DELAY_MS}ms", "limit", "100000"]):
        r = run(argv, check=False)
        if r.returncode != 0:
            netns_down()
            return f"`{' '.join(argv)}`: {r.stderr.strip()}"
    return None


def ping_summary():
    ping = run(["ping", "-c", "3", "-q", HOST_IP], netns=True, check=False)
    return ping.stdout.strip().splitlines()[-1] if ping.returncode == 0 else "ping unavailable"


def netns_down():
    run(["ip", "link", "del", VETH_HOST], check=False)
    run(["ip", "netns", "del", NETNS], check=False)


def time_mount(webcfs, spec, registry, cache, workdir, netns):
    # A fresh mountpoint each time: the daemon of the previous one may still
    # be exiting after `webcfs unmount`.
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=workdir)
    t0 = time.perf_counter()
    run([webcfs, "mount", spec, mnt, "--registry", registry, "--cache", cache], netns=netns)
    os.stat(os.path.join(mnt, "app"))
    elapsed = time.perf_counter() - t0
    run([webcfs, "unmount", mnt])
    os.rmdir(mnt)
    return elapsed


def median_ms(samples):
    return statistics.median(samples) * 1000


def cell(samples):
    return (f"{median_ms(samples):.0f} ms [{min(samples) * 1000:.0f}–"
            f"{max(samples) * 1000:.0f}]")


def bench_tree(webcfs, reg, servers, netns, reps, workdir):
    """{(source, state): (samples, requests per mount)}."""
    sources = {"dir": reg, "api": servers.api(), "nginx": servers.mirror()}
    results = {}
    for source, registry in sources.items():
        cache = os.path.join(workdir, f"cache-{source}")
        for state in ("cold", "warm"):
            samples, requests = [], []
            for _ in range(reps):
                if state == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                before = servers.requests(source)
                samples.append(time_mount(webcfs, "bench/app", registry, cache, workdir, netns))
                requests.append(servers.requests(source) - before)
            results[(source, state)] = (samples, statistics.median(requests))
        shutil.rmtree(cache, ignore_errors=True)
    return results


def bench_download(webcfs, servers, netns, reps, workdir, big_bytes):
    """(webcfs samples, curl samples) for the big package from nginx."""
    url = servers.mirror() + "bench--big@1.0.0.webc"
    cache = os.path.join(workdir, "cache-big")
    out = os.path.join(workdir, "curl-big.webc")
    def with_webcfs():
        shutil.rmtree(cache, ignore_errors=True)
        run(["sync"])
        t0 = time.perf_counter()
        run([webcfs, "resolve", "bench/big", "--registry", servers.mirror(), "--cache", cache],
            netns=netns)
        return time.perf_counter() - t0

    def with_curl():
        if os.path.exists(out):
            os.unlink(out)
        run(["sync"])
        t0 = time.perf_counter()
        run(["curl", "-sS", "--fail", "-o", out, url], netns=netns)
        elapsed = time.perf_counter() - t0
        if os.path.getsize(out) != big_bytes:
            sys.exit(f"bench/remote: curl got {os.path.getsize(out)} bytes of {url}")
        return elapsed

    ours, curls = [], []
    for i in range(reps):  # alternating which goes first
        if i % 2 == 0:
            ours.append(with_webcfs())
            curls.append(with_curl())
        else:
            curls.append(with_curl())
            ours.append(with_webcfs())
    shutil.rmtree(cache, ignore_errors=True)
    os.unlink(out)
    return ours, curls


def main():
    global DELAY_MS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--webcfs", default=os.path.join(ROOT, "build/release/daemon/webcfs"))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rtt-ms", type=int, default=DELAY_MS,
                   help="round trip of the delayed network; a long one makes CPU noise small")
    p.add_argument("--big-reps", type=int, default=6)
    p.add_argument("--big-mib", type=int, default=200)
    p.add_argument("--workdir", default="/var/tmp/webcfs-bench-remote")
    p.add_argument("--out", default=os.path.join(HERE, "results", "remote.md"))
    args = p.parse_args()
    DELAY_MS = args.rtt_ms
    if os.geteuid() != 0:
        sys.exit("bench/remote: run as root (network namespaces, mounts)")
    for tool in ("ip", "tc", "nginx", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/remote: {tool} is missing (apt-get install iproute2 nginx curl)")
    webcfs = os.path.abspath(args.webcfs)
    os.makedirs(args.workdir, exist_ok=True)
    reg = make_registry(webcfs, args.workdir, args.big_mib)
    big_path = os.path.join(reg, "bench--big@1.0.0.webc")
    big_bytes = os.path.getsize(big_path)
    tree_bytes = sum(os.path.getsize(os.path.join(reg, f)) for f in os.listdir(reg)
                     if f.endswith(".webc") and f != os.path.basename(big_path))
    catalog = os.path.join(args.workdir, "catalog.json")

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    nets = {}
    netem_failure = None
    try:
        servers = Servers(reg, catalog, "127.0.0.1", args.workdir)
        try:
            nets["loopback"] = ("127.0.0.1", "",
                                bench_tree(webcfs, reg, servers, False, args.reps, args.workdir),
                                bench_download(webcfs, servers, False, args.big_reps,
                                               args.workdir, big_bytes))
        finally:
            servers.stop()
        netem_failure = netns_up()
        if netem_failure is None:
            servers = Servers(reg, catalog, HOST_IP, args.workdir)
            try:
                nets["netem"] = (f"netns, {DELAY_MS} ms RTT", ping_summary(),
                                 bench_tree(webcfs, reg, servers, True, args.reps, args.workdir),
                                 bench_download(webcfs, servers, True, args.big_reps,
                                                args.workdir, big_bytes))
            finally:
                servers.stop()
        else:
            # No netem in this kernel: the same round trips from a user-space proxy.
            servers = Servers(reg, catalog, "127.0.0.1", args.workdir, rtt_ms=DELAY_MS)
            try:
                nets["delay"] = (f"delay proxy, {DELAY_MS} ms RTT", "",
                                 bench_tree(webcfs, reg, servers, False, args.reps, args.workdir),
                                 bench_download(webcfs, servers, False, args.big_reps,
                                                args.workdir, big_bytes))
            finally:
                servers.stop()
    finally:
        netns_down()

    cmd = "bench/remote.py " + " ".join(sys.argv[1:])
    lines = [
        "# Remote registries: resolve + mount, and download throughput", "",
        f"Generated by `{cmd.strip()}` on {started} (webcfs {commit}).", "",
        f"Tree: `bench/app`, 20 packages on 3 levels (1 → {MIDS} → {sum(LEAVES)}), each with "
        f"{PACKAGE_KIB} KiB of incompressible data, {tree_bytes / 1e6:.1f} MB in all. Time = "
        "`webcfs mount` (resolve, download, verify, mount; background mode) until the first "
        "stat of the tree answers; median [min–max] of "
        f"{args.reps} samples. Cold: cache (and stored answers) emptied before every sample; "
        "warm: the previous sample's cache, answers fresh. Requests: median per mount, as "
        "counted by the server (registry double `/_stats`, nginx access log). The Wasmer API "
        "is the test double `tests/remote/wasmer_registry.py` (Python's threading HTTP "
        "server), the static mirror nginx, the baseline the same files as a local directory "
        "registry (its index.json).", "",
    ]
    for net, (label, ping, tree, (ours, curls)) in nets.items():
        dir_warm = median_ms(tree[("dir", "warm")][0])
        dir_cold = median_ms(tree[("dir", "cold")][0])
        lines += [f"## {net} ({label})", ""]
        if ping:
            lines += [f"`ping` from the namespace: `{ping}`", ""]
        lines += ["| source | cold | requests | warm | requests | cold ÷ dir cold | "
                  "warm ÷ dir warm |", "|---|---|---|---|---|---|---|"]
        for source in ("dir", "api", "nginx"):
            cold, cold_req = tree[(source, "cold")]
            warm, warm_req = tree[(source, "warm")]
            lines.append(f"| {source} | {cell(cold)} | {cold_req:g} | {cell(warm)} | "
                         f"{warm_req:g} | ×{median_ms(cold) / dir_cold:.2f} | "
                         f"×{median_ms(warm) / dir_warm:.2f} |")
        if net in ("netem", "delay"):
            for source in ("api", "nginx"):
                extra = median_ms(tree[(source, "cold")][0]) - dir_cold
                lines.append("")
                lines.append(f"{source} cold minus dir cold: {extra:.0f} ms = "
                             f"{extra / DELAY_MS:.1f} round trips of {DELAY_MS} ms "
                             "(requests, connections and transfer together).")
        mbs = lambda s: big_bytes / statistics.median(s) / 1e6  # noqa: E731
        lines += ["", f"Download of a {big_bytes / 1e6:.0f} MB package from nginx, "
                  f"median of {len(ours)}: `webcfs resolve` (download, sha256 while "
                  f"streaming, open) {mbs(ours):.0f} MB/s [{cell(ours)}], `curl -o` "
                  f"{mbs(curls):.0f} MB/s [{cell(curls)}]: **{mbs(ours) / mbs(curls):.2f}× "
                  "curl**.", ""]
    if netem_failure is not None:
        lines += ["## netem (not run)", "",
                  f"The {DELAY_MS} ms network could not be made on this machine: "
                  f"{netem_failure}. The kernel needs `CONFIG_NET_SCH_NETEM` "
                  "(module `sch_netem`). The `delay` section above gives the same round "
                  "trips from `bench/benchlib/delay_proxy.py` (user space; TCP slow start over "
                  "the long path is not modelled, and the proxy caps throughput).", ""]
    report = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
