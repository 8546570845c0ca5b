#!/usr/bin/python3
"""webcfs benchmark: webcfs side by side with squashfuse_ll, fuse-overlayfs and the kernel's
squashfs, EROFS and overlayfs on the same content, in one run. See bench/README.md.

Needs root (loop devices, mounts, drop_caches). Python 3 standard library only.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean (ctest runs from it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import configs as cfgs  # noqa: E402
from benchlib import content, matrix, report, system  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ["gen", "pystd", "include", "tiny", "merge", "scale"]
ALL_WORKLOADS = ["stat", "ls", "cat", "tar", "par16", "seq", "rand"]
TREE_WORKLOADS = ["stat", "ls", "cat", "tar"]
TOOLS = ["mksquashfs", "mkfs.erofs", "squashfuse_ll", "fuse-overlayfs", "fio", "fusermount3",
         "gnuplot", "tar", "find", "xargs", "stat"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small content, one repetition, fewer workloads, every configuration "
                        "(the ctest smoke run: asserts every configuration ran, matched its "
                        "source and produced numbers)")
    p.add_argument("--prepare-only", action="store_true",
                   help="generate the content and build every image, then stop")
    p.add_argument("--no-census", action="store_true",
                   help="skip the untimed extra run per workload that counts FUSE requests")
    p.add_argument("--profile", help="instead of timing: profile WORKLOAD:MODE[,...] (e.g. "
                   "ls:warm,tar:cold) on the FUSE configurations; writes OUT/profiles/")
    p.add_argument("--profile-tools", default="census,perf",
                   help="census (FUSE requests per opcode), perf, callgrind (default: %(default)s)")
    p.add_argument("--profile-repeat", type=int, default=3,
                   help="warm runs per profile (default %(default)s)")
    p.add_argument("--workdir", help="content, images and logs (cached between runs); default "
                   "/var/tmp/webcfs-bench[-quick]")
    p.add_argument("--out", help="where RESULTS.md and results/ go; default: bench/ of the "
                   "repository for a full run, WORKDIR/out for --quick, --suites, --configs "
                   "and --profile")
    p.add_argument("--webcfs", default=os.path.join(REPO, "build/release/daemon/webcfs"),
                   help="webcfs binary (default: %(default)s)")
    p.add_argument("--suites", help="comma list of " + ",".join(SUITES) + " (default: all)")
    p.add_argument("--configs", help="comma list of " + ",".join(
        sorted(set(cfgs.SINGLE + cfgs.MERGE))) + " (default: all)")
    p.add_argument("--reps-cold", type=int, help="cold samples per workload (default 3)")
    p.add_argument("--reps-warm", type=int, help="warm samples per workload (default 5)")
    p.add_argument("--mount-reps", type=int, help="warm mount-time samples (default 5)")
    p.add_argument("--passes", type=int, default=1,
                   help="run the whole matrix N times, pooling samples (default 1)")
    p.add_argument("--gen-files", type=int, help="files of the generated tree (default 10000)")
    p.add_argument("--gen-dirs", type=int, help="directories of the generated tree (330)")
    p.add_argument("--big-files", type=int, help="large files in the generated tree (3)")
    p.add_argument("--big-mib", type=int, help="size of each large file in MiB (50)")
    p.add_argument("--tiny-files", type=int, help="files of the tiny-file tree (100000)")
    p.add_argument("--tiny-dirs", type=int, help="directories of the tiny-file tree (1000)")
    p.add_argument("--scale", help="comma list of entry counts for the scaling curves "
                   "(default 1000,10000,100000,1000000)")
    p.add_argument("--merge-shadow", type=int, help="files each upper layer shadows (300)")
    p.add_argument("--merge-add", type=int, help="files each upper layer adds (700)")
    p.add_argument("--fio-runtime", type=int, help="seconds of each warm fio run, seq and random (3)")
    p.add_argument("--pystd", default="/usr/lib/python3.11", help="real tree (a): %(default)s")
    p.add_argument("--include", default="/usr/include", help="larger real tree: %(default)s")
    args = p.parse_args(argv)
    args.argv = argv
    quick = args.quick
    defaults = {
        "reps_cold": 1 if quick else 3, "reps_warm": 1 if quick else 5,
        "mount_reps": 1 if quick else 5, "gen_files": 300 if quick else 10000,
        "gen_dirs": 15 if quick else 330, "big_files": 1 if quick else 3,
        "big_mib": 4 if quick else 50, "tiny_files": 2000 if quick else 100000,
        "tiny_dirs": 20 if quick else 1000, "scale": "1000" if quick else
        "1000,10000,100000,1000000", "merge_shadow": 30 if quick else 300,
        "merge_add": 70 if quick else 700, "fio_runtime": 1 if quick else 3,
        "workdir": "/var/tmp/webcfs-bench" + ("-quick" if quick else ""),
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    partial = bool(args.suites or args.configs) or args.profile
    if args.out is None:
        # Only a complete run may replace the committed bench/RESULTS.md; a
        # partial one (a few suites or configurations) goes beside the content.
        full = not quick and not partial
        args.out = os.path.join(REPO, "bench") if full else os.path.join(args.workdir, "out")
    args.suites = args.suites.split(",") if args.suites else list(SUITES)
    args.configs = args.configs.split(",") if args.configs else None
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        p.error("unknown suite(s): " + ",".join(sorted(unknown)))
    args.scale = [int(x) for x in args.scale.split(",") if x]
    return args


def build_suites(args):
    """Prepares the content of every selected suite and returns the suites in run order."""
    wd, q = args.workdir, args.quick
    pick = (lambda names: [n for n in names if args.configs is None or n in args.configs])
    single, merged = pick(cfgs.SINGLE), pick(cfgs.MERGE)
    scale_cfgs = pick(["webcfs", "sqll"]) + (["ksq-raw"] if args.configs is None
                                             or "ksq" in args.configs else [])
    suites = []
    gen = None
    if {"gen", "merge"} & set(args.suites):
        gen = content.gen_tree(wd, args.gen_files, args.gen_dirs, args.big_files,
                               args.big_mib << 20, label=f"gen{_k(args.gen_files)}")
    if "gen" in args.suites:
        suites.append(matrix.Suite(
            "gen", f"generated tree ({_k(args.gen_files)} files + {args.big_files} x "
            f"{args.big_mib} MiB)", gen, single, ALL_WORKLOADS, args.reps_cold, args.reps_warm))
    if "pystd" in args.suites:
        subdirs = ["json", "email", "http"] if q else None
        c = content.copy_tree(wd, args.pystd, "pystd", subdirs)
        suites.append(matrix.Suite(
            "pystd", f"Python stdlib ({args.pystd}" + (", json+email+http" if q else "") + ")",
            c, single, ["tar"] if q else TREE_WORKLOADS, args.reps_cold, args.reps_warm))
    if "include" in args.suites and not q:
        c = content.copy_tree(wd, args.include, "include")
        suites.append(matrix.Suite("include", f"real tree {args.include}", c, single,
                                   TREE_WORKLOADS, args.reps_cold, args.reps_warm))
    tiny = None
    if {"tiny", "scale"} & set(args.suites):
        tiny = content.tiny_tree(wd, args.tiny_files, args.tiny_dirs, f"tiny{_k(args.tiny_files)}")
    if "tiny" in args.suites:
        suites.append(matrix.Suite(
            "tiny", f"{_k(args.tiny_files)} tiny files in {args.tiny_dirs} dirs", tiny, single,
            ["ls"] if q else ["stat", "ls", "cat"], args.reps_cold, min(args.reps_warm, 3)))
    if "merge" in args.suites:
        m = content.merge_layers(wd, gen, args.merge_shadow, args.merge_add, "merge")
        suites.append(matrix.Suite(
            "merge", f"3-package merge over the generated tree (each upper layer shadows "
            f"{args.merge_shadow} files, adds {args.merge_add})", m, merged,
            ["stat", "cat", "seq"] if q else ALL_WORKLOADS, args.reps_cold, args.reps_warm,
            kind="merge"))
    if "scale" in args.suites:
        for n in args.scale:
            dirs = max(1, n // 100)
            if (n, dirs) == (args.tiny_files, args.tiny_dirs):
                c = tiny
            else:
                c = content.tiny_tree(wd, n, dirs, f"scale{_k(n)}", hashes=False)
            suites.append(matrix.Suite(f"scale-{n}", f"{_k(n)} files in {dirs} dirs", c,
                                       scale_cfgs, [], args.reps_cold, 0, kind="scale",
                                       hashes=False))
    return suites


def _k(n):
    if n >= 1000000 and n % 1000000 == 0:
        return f"{n // 1000000}M"
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _meta(args, started, env, partial=False):
    return {
        "command": "bench/run.sh " + " ".join(args.argv),
        "partial": partial,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": round(time.time() - started),
        "machine": system.machine_info(REPO, env["webcfs"]),
        "reps": {"cold": args.reps_cold, "warm": args.reps_warm, "mount": args.mount_reps,
                 "passes": args.passes},
    }


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (loop devices, mounts, drop_caches)", file=sys.stderr)
        return 2
    system.require_tools(TOOLS)
    os.makedirs(args.workdir, exist_ok=True)
    started = time.time()
    tmp = tempfile.mkdtemp(prefix="bench-", dir="/tmp")
    env = {"workdir": args.workdir, "tmp": tmp, "webcfs": os.path.abspath(args.webcfs),
           "fio_runtime": args.fio_runtime, "mount_reps": args.mount_reps,
           "census": not args.no_census}
    results = matrix.Results()
    suites = []
    interrupted = False
    runner = matrix.Runner(env, results)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    try:
        suites = build_suites(args)
        if args.prepare_only:
            for suite in suites:
                runner.prepare(suite)
            return 0
        if args.profile:
            for spec in args.profile.split(","):
                workload, _, mode = spec.partition(":")
                for suite in suites:
                    if workload in suite.workloads:
                        runner.run_profile(suite, workload, mode or "warm",
                                           args.profile_tools.split(","), args.profile_repeat,
                                           os.path.join(args.out, "profiles"))
            report.write_profiles(os.path.join(args.out, "profiles"), _meta(args, started, env),
                                  results)
            return 1 if results.errors else 0
        for p in range(args.passes):
            for suite in suites:
                system.log(f"== pass {p + 1}/{args.passes}: {suite.name}: {suite.title}")
                runner.run_suite(suite)
                # Partial results after every suite: a late failure loses nothing.
                report.write_all(args.out, _meta(args, started, env, partial=True), results)
    except system.BenchError as e:
        results.errors.append({"suite": "-", "config": "-", "error": str(e)})
        print(f"bench: error: {e}", file=sys.stderr)
    except KeyboardInterrupt as e:
        print(f"bench: interrupted ({e or 'SIGINT'}); nothing written", file=sys.stderr)
        interrupted = True
    finally:
        runner.cleanup()
        if not any(system.is_mounted(os.path.join(tmp, d)) for d in os.listdir(tmp)):
            shutil.rmtree(tmp, ignore_errors=True)
    if interrupted:
        return 130
    meta = _meta(args, started, env)
    report.write_all(args.out, meta, results)
    status = report.completeness(results, suites)
    print(f"bench: results in {os.path.join(args.out, 'RESULTS.md')} "
          f"({meta['duration_s']} s)")
    failed = 0
    for (suite, config), problems in sorted(status.items()):
        if problems:
            failed += 1
            print(f"bench: FAILED {suite}/{config}: " + "; ".join(problems), file=sys.stderr)
    errors = [e for e in results.errors if e["suite"] == "-"]
    print(f"bench: {len(status) - failed} passed, {failed + len(errors)} failed")
    return 1 if failed or errors or not status else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
