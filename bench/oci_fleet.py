#!/usr/bin/env python3
"""A fleet of nodes mounting one 20-package tree from an OCI registry.

One network namespace holds the registry (Debian's docker-registry) and a
pull-through cache (a second docker-registry in `proxy` mode in front of it);
each node namespace is joined to it by a veth pair. Every node runs its own
`webcfs mount` with its own empty cache and reaches the registry (or the
cache) through bench/benchlib/delay_proxy.py running inside the node's
namespace, which adds --rtt-ms of round trip to every connection (this
kernel has no sch_netem for `tc netem`).

1. Three nodes cold-mount at once: straight from the registry (whole
   downloads, --no-lazy; then lazy, the default), then through the
   pull-through cache (cold, then warm). For each node: the time from the
   command to the first answered stat of the tree; for the origin registry
   and the cache: the response bytes each wrote (summed from its log,
   `http.response.written`) and the requests.
2. --fleet nodes (30 by default) mount one after another, each staying
   mounted, whole downloads straight from the registry: per-node times and
   the origin's bytes.

    bench/oci_fleet.py [--webcfs PATH] [--reps N] [--rtt-ms MS] [--fleet N]
                       [--workdir DIR] [--out FILE]

Root only. The tree is the one bench/remote.py builds (20 packages of
256 KiB on 3 levels). Writes a Markdown report (default
bench/results/oci_fleet.md) and prints it.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import remote  # noqa: E402  (the tree and pack() of bench/remote.py)

REG_NS = "wcf-reg"
NODES = 3
PORT, PROXY_PORT = 5000, 5001
DELAY_PROXY = os.path.join(HERE, "benchlib", "delay_proxy.py")


def run(argv, ns=None, check=True):
    if ns:
        # Only the network namespace, so that a FUSE mount stays visible here.
        argv = ["nsenter", f"--net=/run/netns/{ns}"] + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench/oci_fleet: {' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def node_ns(k):
    return f"wcf-node{k}"


def reg_ip(k):
    return f"10.214.{k}.1"


def net_down(nodes):
    for k in range(nodes):
        run(["ip", "netns", "del", node_ns(k)], check=False)
    run(["ip", "netns", "del", REG_NS], check=False)


def net_up(nodes):
    net_down(nodes)
    run(["ip", "netns", "add", REG_NS])
    run(["ip", "link", "set", "lo", "up"], ns=REG_NS)
    for k in range(nodes):
        ns, a, b = node_ns(k), f"wcf-r{k}", f"wcf-n{k}"
        run(["ip", "netns", "add", ns])
        run(["ip", "link", "add", a, "netns", REG_NS, "type", "veth", "peer", "name", b,
             "netns", ns])
        run(["ip", "addr", "add", f"{reg_ip(k)}/24", "dev", a], ns=REG_NS)
        run(["ip", "link", "set", a, "up"], ns=REG_NS)
        run(["ip", "addr", "add", f"10.214.{k}.2/24", "dev", b], ns=ns)
        run(["ip", "link", "set", b, "up"], ns=ns)
        run(["ip", "link", "set", "lo", "up"], ns=ns)


class Registry:
    """docker-registry in the registry namespace; info-level access log."""

    def __init__(self, work, port, extra=""):
        os.makedirs(work, exist_ok=True)
        self.log = os.path.join(work, "registry.log")
        conf = os.path.join(work, "config.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {work}/data\n"
                    f"http:\n  addr: 0.0.0.0:{port}\n{extra}")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{REG_NS}", "/usr/bin/docker-registry", "serve", conf],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while run(["curl", "-sf", f"http://127.0.0.1:{port}/v2/"], ns=REG_NS,
                  check=False).returncode != 0:
            if time.time() > deadline:
                sys.exit(f"bench/oci_fleet: registry on port {port} does not answer")
            time.sleep(0.1)

    def served(self):
        """(bytes written, requests) so far, from the log."""
        with open(self.log) as f:
            text = f.read()
        written = [int(n) for n in re.findall(r"http\.response\.written=(\d+)", text)]
        return sum(written), len(written)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Delay:
    """delay_proxy.py inside node k's namespace: 127.0.0.1:port → the registry's port."""

    def __init__(self, k, port, rtt_ms, workdir):
        port_file = os.path.join(workdir, f"delay-{k}-{port}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node_ns(k)}", sys.executable, DELAY_PROXY,
             "--to", f"{reg_ip(k)}:{port}", "--rtt-ms", str(rtt_ms), "--port-file", port_file])
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"bench/oci_fleet: the delay proxy of node {k} did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def mount_node(webcfs, k, port, workdir, extra):
    """Mounts the tree on node k through its delay proxy `port`: (seconds, mountpoint)."""
    cache = os.path.join(workdir, f"cache-node{k}")
    shutil.rmtree(cache, ignore_errors=True)
    mnt = tempfile.mkdtemp(prefix=f"mnt{k}-", dir=workdir)
    t0 = time.perf_counter()
    run([webcfs, "mount", "bench/app", mnt, "--registry",
         f"oci+http://127.0.0.1:{port}/bench", "--cache", cache] + extra, ns=node_ns(k))
    os.stat(os.path.join(mnt, "app"))
    return time.perf_counter() - t0, mnt


def unmount(webcfs, mounts):
    for mnt in mounts:
        run([webcfs, "unmount", mnt], check=False)
        os.rmdir(mnt)


def cold_mounts(webcfs, ports, workdir, extra):
    """Seconds to the first answer on each node, all mounting at once."""
    results = [None] * len(ports)

    def node(k):
        results[k] = mount_node(webcfs, k, ports[k], workdir, extra)

    threads = [threading.Thread(target=node, args=(k,)) for k in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    unmount(webcfs, [r[1] for r in results if r])
    if None in results:
        sys.exit("bench/oci_fleet: a node failed to mount")
    return [r[0] for r in results]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--webcfs", default=os.path.join(remote.ROOT, "build/release/daemon/webcfs"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--rtt-ms", type=float, default=5)
    p.add_argument("--fleet", type=int, default=30)
    p.add_argument("--workdir", default="/var/tmp/webcfs-bench-oci-fleet")
    p.add_argument("--out", default=os.path.join(HERE, "results", "oci_fleet.md"))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/oci_fleet: run as root (network namespaces, mounts)")
    if not 1 <= args.fleet <= 250:
        sys.exit("bench/oci_fleet: --fleet takes 1 to 250 nodes (one /24 each)")
    webcfs = os.path.abspath(args.webcfs)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    reg_dir = remote.make_registry(webcfs, args.workdir, 1)
    tree = sorted(f for f in os.listdir(reg_dir)
                  if f.endswith(".webc") and not f.startswith("bench--big@"))
    tree_bytes = sum(os.path.getsize(os.path.join(reg_dir, f)) for f in tree)
    nodes = max(NODES, args.fleet)
    load_before = os.getloadavg()
    net_up(nodes)
    origin = cache = None
    delays = []
    rows = []
    fleet = []
    try:
        origin = Registry(os.path.join(args.workdir, "origin"), PORT)
        for f in tree:
            run([webcfs, "push", os.path.join(reg_dir, f), f"oci+http://127.0.0.1:{PORT}/bench"],
                ns=REG_NS)
        cache = Registry(os.path.join(args.workdir, "proxy"), PROXY_PORT,
                         f"proxy:\n  remoteurl: http://127.0.0.1:{PORT}\n")
        to_origin = [Delay(k, PORT, args.rtt_ms, args.workdir) for k in range(nodes)]
        to_cache = [Delay(k, PROXY_PORT, args.rtt_ms, args.workdir) for k in range(NODES)]
        delays = to_origin + to_cache
        runs = [("registry, whole", to_origin[:NODES], ["--no-lazy"]),
                ("registry, lazy", to_origin[:NODES], []),
                ("pull-through cache, whole", to_cache, ["--no-lazy"])]
        for label, via, extra in runs:
            for rep in range(args.reps):
                before = origin.served(), cache.served()
                times = cold_mounts(webcfs, [d.port for d in via], args.workdir, extra)
                after = origin.served(), cache.served()
                rows.append((label, rep, times, after[0][0] - before[0][0],
                             after[0][1] - before[0][1], after[1][0] - before[1][0]))
        before = origin.served()
        t0 = time.perf_counter()
        mounts = []
        try:
            for k in range(args.fleet):
                seconds, mnt = mount_node(webcfs, k, to_origin[k].port, args.workdir,
                                          ["--no-lazy"])
                fleet.append(seconds)
                mounts.append(mnt)
            fleet_wall = time.perf_counter() - t0
        finally:
            unmount(webcfs, mounts)
        after = origin.served()
        fleet_bytes, fleet_requests = after[0] - before[0], after[1] - before[1]
    finally:
        for d in delays:
            d.stop()
        for r in (cache, origin):
            if r:
                r.stop()
        net_down(nodes)
    load_after = os.getloadavg()

    load = lambda la: ", ".join(f"{x:.2f}" for x in la)  # noqa: E731
    lines = [
        "# OCI fleet: nodes mount one 20-package tree from an OCI registry",
        "",
        f"Command: `bench/oci_fleet.py --reps {args.reps} --rtt-ms {args.rtt_ms:g} "
        f"--fleet {args.fleet}` ({time.strftime('%Y-%m-%d %H:%M')}).",
        f"Tree: {len(tree)} packages, {tree_bytes} bytes of webc. Each node is a network "
        "namespace joined by a veth pair to the registry's namespace; inside it "
        "`bench/benchlib/delay_proxy.py` adds "
        f"{args.rtt_ms:g} ms of round trip to every connection to the registry or the "
        "pull-through cache (no `tc netem`: this kernel has no sch_netem). The cache reaches "
        "the origin with no added delay. Each node: its own `webcfs mount` and empty cache. "
        "Bytes: the response bytes a registry wrote (`http.response.written` in its log), for "
        "all the nodes' mounts of the row together; \"/ tree\" divides the origin's by the "
        "tree's size. \"whole\": `--no-lazy` (every package downloaded before the mount "
        "answers); \"lazy\": the default, files fetched when read (here only the stat of "
        "`app/`).",
        f"Load average (1, 5, 15 min) before: {load(load_before)}; after: "
        f"{load(load_after)}.",
        "",
        "## Three nodes at once",
        "",
        "| served by | run | node 1 | node 2 | node 3 | origin bytes | origin requests "
        "| / tree | cache bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rep, times, nbytes, nreq, cbytes in rows:
        cells = " | ".join(f"{t * 1000:.0f} ms" for t in times)
        lines.append(f"| {label} | {rep + 1} | {cells} | {nbytes} | {nreq} | "
                     f"{nbytes / tree_bytes:.2f} | {cbytes} |")
    lines.append("")
    for label, _, _ in runs:
        all_times = [t for l, _, ts, _, _, _ in rows if l == label for t in ts]
        lines.append(f"- {label}: median time to first answer "
                     f"{statistics.median(all_times) * 1000:.0f} ms over {len(all_times)} "
                     "node mounts")
    lines += [
        "",
        f"## {args.fleet} nodes, one after another",
        "",
        f"Whole downloads straight from the registry; each node stays mounted. Wall time "
        f"{fleet_wall:.1f} s; per node: median {statistics.median(fleet) * 1000:.0f} ms, "
        f"min {min(fleet) * 1000:.0f} ms, max {max(fleet) * 1000:.0f} ms. Origin: "
        f"{fleet_bytes} bytes in {fleet_requests} requests, {fleet_bytes / tree_bytes:.2f} "
        f"trees for {args.fleet} nodes.",
        "",
        "Per node (ms): " + ", ".join(f"{t * 1000:.0f}" for t in fleet),
    ]
    report = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
