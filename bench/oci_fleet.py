#!/usr/bin/env python3
"""A fleet of nodes cold-mounting one 20-package tree from an OCI registry at once.

One network namespace holds the registry (Debian's docker-registry) and a
pull-through cache (a second docker-registry in `proxy` mode in front of it);
three node namespaces are joined to it by a veth pair each. Every node runs
its own `webcfs mount` with its own empty cache, all three started together,
first straight from the registry, then through the pull-through cache. For
each node: the time from the command to the first answered stat of the
mountpoint; for the registry: the response bytes it wrote (summed from its
access log, `http.response.written`), and the requests.

    bench/oci_fleet.py [--webcfs PATH] [--reps N] [--workdir DIR] [--out FILE]

Root only. No delay is added on the veth pairs (this kernel may lack
sch_netem); the tree is the one bench/remote.py builds (20 packages of
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


def net_down():
    for k in range(NODES):
        run(["ip", "netns", "del", node_ns(k)], check=False)
    run(["ip", "netns", "del", REG_NS], check=False)


def net_up():
    net_down()
    run(["ip", "netns", "add", REG_NS])
    run(["ip", "link", "set", "lo", "up"], ns=REG_NS)
    for k in range(NODES):
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


def cold_mounts(webcfs, port, workdir):
    """Seconds to the first answer on each node, all mounting at once."""
    times = [None] * NODES
    mounts = []

    def node(k):
        cache = os.path.join(workdir, f"cache-node{k}")
        shutil.rmtree(cache, ignore_errors=True)
        mnt = tempfile.mkdtemp(prefix=f"mnt{k}-", dir=workdir)
        mounts.append(mnt)
        t0 = time.perf_counter()
        run([webcfs, "mount", "bench/app", mnt, "--registry",
             f"oci+http://{reg_ip(k)}:{port}/bench", "--cache", cache], ns=node_ns(k))
        os.stat(os.path.join(mnt, "app"))
        times[k] = time.perf_counter() - t0

    threads = [threading.Thread(target=node, args=(k,)) for k in range(NODES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for mnt in mounts:
        run([webcfs, "unmount", mnt], check=False)
        os.rmdir(mnt)
    if None in times:
        sys.exit("bench/oci_fleet: a node failed to mount")
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--webcfs", default=os.path.join(remote.ROOT, "build/release/daemon/webcfs"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workdir", default="/var/tmp/webcfs-bench-oci-fleet")
    p.add_argument("--out", default=os.path.join(HERE, "results", "oci_fleet.md"))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/oci_fleet: run as root (network namespaces, mounts)")
    webcfs = os.path.abspath(args.webcfs)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    reg_dir = remote.make_registry(webcfs, args.workdir, 1)
    tree = sorted(f for f in os.listdir(reg_dir)
                  if f.endswith(".webc") and not f.startswith("bench--big@"))
    tree_bytes = sum(os.path.getsize(os.path.join(reg_dir, f)) for f in tree)
    net_up()
    origin = proxy = None
    rows = []
    try:
        origin = Registry(os.path.join(args.workdir, "origin"), PORT)
        for f in tree:
            run([webcfs, "push", os.path.join(reg_dir, f), f"oci+http://127.0.0.1:{PORT}/bench"],
                ns=REG_NS)
        proxy = Registry(os.path.join(args.workdir, "proxy"), PROXY_PORT,
                         f"proxy:\n  remoteurl: http://127.0.0.1:{PORT}\n")
        for label, port in (("registry", PORT), ("pull-through cache", PROXY_PORT)):
            for rep in range(args.reps):
                before = origin.served()
                times = cold_mounts(webcfs, port, args.workdir)
                after = origin.served()
                rows.append((label, rep, times, after[0] - before[0], after[1] - before[1]))
    finally:
        for r in (proxy, origin):
            if r:
                r.stop()
        net_down()

    lines = [
        "# OCI fleet: three nodes cold-mount one 20-package tree at once",
        "",
        f"Command: `bench/oci_fleet.py --reps {args.reps}` ({time.strftime('%Y-%m-%d')}).",
        f"Tree: {len(tree)} packages, {tree_bytes} bytes of webc. Three node network namespaces, "
        "each joined by a veth pair to the registry's namespace; **no added delay** "
        "(no `tc netem`). Each node: its own `webcfs mount` and empty cache, all started "
        "together. Origin bytes: the response bytes the origin registry wrote "
        "(`http.response.written` in its log), for the three mounts together.",
        "",
        "| served by | run | node 1 | node 2 | node 3 | origin bytes | origin requests | bytes / tree |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, rep, times, nbytes, nreq in rows:
        cells = " | ".join(f"{t * 1000:.0f} ms" for t in times)
        lines.append(f"| {label} | {rep + 1} | {cells} | {nbytes} | {nreq} | "
                     f"{nbytes / tree_bytes:.2f} |")
    for label in ("registry", "pull-through cache"):
        all_times = [t for l, _, ts, _, _ in rows if l == label for t in ts]
        lines.append("")
        lines.append(f"- {label}: median time to first answer "
                     f"{statistics.median(all_times) * 1000:.0f} ms over {len(all_times)} node mounts")
    report = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    print(report)


if __name__ == "__main__":
    main()
