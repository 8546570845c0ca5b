#!/usr/bin/env python3
"""`webcfs inspect --json` against plain `webcfs inspect` on one wide directory.

Packs a package whose one volume is a single directory of N one-byte files
(default 1,000,000; kept in the work directory for later runs), then runs each
command --reps times and prints a Markdown table row per command: median and
range of the wall time, peak RSS and output size. `--json` hashes and lists
every entry, so it is expected to cost more than the summary, but linearly:
compare rows for two values of --entries.

    bench/inspect_json.py [--webcfs PATH] [--entries N] [--reps N] [--workdir DIR]

Python 3 standard library only, like bench.py. Needs no root.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_package(webcfs, workdir, entries):
    pkg = os.path.join(workdir, f"wide-{entries}")
    out = pkg + ".webc"
    if os.path.exists(out):
        return out
    data = os.path.join(pkg, "data")
    os.makedirs(data, exist_ok=True)
    have = set(os.listdir(data))  # an interrupted run's files are kept
    for i in range(entries):
        if f"f{i:07d}" not in have:
            with open(os.path.join(data, f"f{i:07d}"), "wb") as f:
                f.write(b"x")
    with open(os.path.join(pkg, "wasmer.toml"), "w") as f:
        f.write('[package]\nname = "bench/wide"\nversion = "1.0.0"\n\n'
                '[fs]\n"/data" = "data"\n')
    subprocess.run([webcfs, "pack", pkg, "-o", out + ".part"], check=True)
    os.rename(out + ".part", out)
    return out


def run_once(argv):
    """Wall seconds, peak RSS in MiB and bytes written to stdout."""
    with open(os.devnull, "wb") as null:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=null)
        size = 0
        while chunk := proc.stdout.read(1 << 20):
            size += len(chunk)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"inspect_json: {' '.join(argv)} failed")
    return wall, usage.ru_maxrss / 1024, size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--webcfs", default=os.path.join(ROOT, "build/release/daemon/webcfs"))
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default="/var/tmp/webcfs-bench/inspect-json")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    pkg = make_package(args.webcfs, args.workdir, args.entries)
    print(f"{args.entries} entries in one directory: {pkg} "
          f"({os.path.getsize(pkg) / 2**20:.1f} MiB), {args.reps} runs each\n")
    print("| command | wall s, median [min-max] | peak RSS MiB | output MiB |")
    print("|---|---|---|---|")
    for flags in ([], ["--json"]):
        runs = [run_once([args.webcfs, "inspect", *flags, pkg]) for _ in range(args.reps)]
        walls = [r[0] for r in runs]
        print(f"| `webcfs inspect {' '.join(flags + ['FILE'])}` | "
              f"{statistics.median(walls):.2f} [{min(walls):.2f}-{max(walls):.2f}] | "
              f"{max(r[1] for r in runs):.0f} | {runs[0][2] / 2**20:.1f} |")


if __name__ == "__main__":
    main()
