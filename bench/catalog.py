#!/usr/bin/env python3
"""Catalog mount benchmark: first access through `webcfs mount --catalog` against
`webcfs mount` of the same package, warm access through both, and the daemon's
resident memory with N packages touched once and after the idle drop.

    sudo bench/catalog.py [--webcfs build/release/daemon/webcfs] [--packages 1000]

Prints a Markdown table (medians, ratios). Python standard library only; needs
root (drop_caches) and /dev/fuse.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import system  # noqa: E402


def daemon_pid(mountpoint):
    pids = system.daemon_pids(mountpoint)
    if not pids:
        raise RuntimeError("no daemon for " + mountpoint)
    return pids[0]


def rss_kib(pid):
    return system.proc_status_kib(pid, "VmRSS") or 0


def make_registry(webcfs, registry, stage, n):
    for i in range(n):
        d = os.path.join(stage, f"pkg{i}")
        os.makedirs(os.path.join(d, "data", "sub"), exist_ok=True)
        with open(os.path.join(d, "wasmer.toml"), "w") as f:
            f.write(f'[package]\nname = "bench/pkg{i}"\nversion = "1.0.0"\n\n'
                    f'[fs]\n"/data" = "data"\n')
        for k in range(8):
            with open(os.path.join(d, "data", "sub", f"f{k}.txt"), "w") as f:
                f.write(f"package {i} file {k}\n" * 64)
        subprocess.run([webcfs, "pack", d, "-o",
                        os.path.join(registry, f"bench--pkg{i}@1.0.0.webc")],
                       check=True, stdout=subprocess.DEVNULL)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read(path):
    with open(path, "rb") as f:
        f.read()


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--webcfs", default="build/release/daemon/webcfs")
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--first", type=int, default=20, help="packages timed for first access")
    ap.add_argument("--idle", type=int, default=5, help="--catalog-idle seconds")
    a = ap.parse_args()
    webcfs = os.path.abspath(a.webcfs)
    work = tempfile.mkdtemp(prefix="webcfs-catalog-bench-")
    registry = os.path.join(work, "registry")
    os.makedirs(registry)
    make_registry(webcfs, registry, os.path.join(work, "stage"), a.packages)
    rel = "data/sub/f0.txt"

    cat_mnt = os.path.join(work, "catalog")
    os.makedirs(cat_mnt)
    subprocess.run([webcfs, "mount", "--catalog", cat_mnt, "--registry", registry,
                    "--cache", os.path.join(work, "cache-catalog"),
                    "--catalog-idle", str(a.idle)], check=True)
    pid = daemon_pid(cat_mnt)
    rss_start = rss_kib(pid)

    # First access: a package nobody asked for yet, each with an empty cache of
    # its own for the plain mount (the catalog's cache is empty for it too).
    first_catalog, first_mount = [], []
    for i in range(a.first):
        first_catalog.append(timed(lambda: read(f"{cat_mnt}/bench/pkg{i}@1/{rel}")))
        m = os.path.join(work, f"single{i}")
        os.makedirs(m)

        def mount_and_read():
            subprocess.run([webcfs, "mount", f"bench/pkg{i}@=1.0.0", m, "--registry", registry,
                            "--cache", os.path.join(work, f"cache-{i}")], check=True)
            read(f"{m}/{rel}")
        first_mount.append(timed(mount_and_read))
        # Warm access: the same file again, 200 times, through each.
        if i == 0:
            warm_catalog = timed(lambda: [read(f"{cat_mnt}/bench/pkg0@1/{rel}")
                                          for _ in range(200)]) / 200
            warm_mount = timed(lambda: [read(f"{m}/{rel}") for _ in range(200)]) / 200
        subprocess.run([webcfs, "unmount", m], check=True)

    for i in range(a.first, a.packages):
        read(f"{cat_mnt}/bench/pkg{i}@1/{rel}")
    rss_touched = rss_kib(pid)
    drop_caches()
    deadline = time.time() + 10 * a.idle + 30
    while time.time() < deadline:
        out = subprocess.run([webcfs, "status", cat_mnt], capture_output=True, text=True).stdout
        if "packages:    0\n" in out:
            break
        time.sleep(0.5)
    rss_idle = rss_kib(pid)
    subprocess.run([webcfs, "unmount", cat_mnt], check=True)

    fc, fm = statistics.median(first_catalog), statistics.median(first_mount)
    print(f"| what | catalog | webcfs mount | ratio |")
    print(f"|---|---|---|---|")
    print(f"| first access of a package (median of {a.first}) | {fc*1000:.1f} ms | "
          f"{fm*1000:.1f} ms (mount + read) | {fc/fm:.2f} |")
    print(f"| warm read of one file (mean of 200) | {warm_catalog*1e6:.0f} us | "
          f"{warm_mount*1e6:.0f} us | {warm_catalog/warm_mount:.2f} |")
    print()
    print(f"| daemon RSS | KiB |")
    print(f"|---|---|")
    print(f"| catalog mounted, nothing loaded | {rss_start} |")
    print(f"| {a.packages} packages touched once | {rss_touched} "
          f"({(rss_touched - rss_start) / a.packages:.1f} KiB per package) |")
    print(f"| after the idle drop | {rss_idle} |")


if __name__ == "__main__":
    main()
