"""Where a FUSE daemon's time goes during one workload (bench.py --profile WORKLOAD:MODE).

For each selected FUSE configuration of a suite, one fresh mount per workload, and:
  census    the FUSE requests the kernel sent, per opcode (tracepoint fuse:fuse_request_send
            in a private tracefs instance, filtered on this mount's connection), with the daemon's CPU time and context
            switches: tells whether a gap is "more round trips" or "slower answers";
  perf      `perf record --call-graph dwarf` attached to the daemon during the workload; the
            report lists the hottest symbols, self and inclusive (kernel + user);
  callgrind the daemon started under `valgrind --tool=callgrind --instr-atstart=no`,
            instrumented only while the workload runs (callgrind_control -i on/off).
Mode "cold": the workload runs once right after a fresh mount and drop_caches; "warm": one
unprofiled warmup run, then `repeat` profiled runs. Outputs go to OUT/profiles/.
"""
import collections
import os
import re
import signal
import subprocess
import time

from . import system

_TRACE = re.compile(r"connection (\d+) req \d+ opcode \d+ \((\w+)\)")


def _cpu_and_switches(pids):
    """(CPU seconds, context switches) summed over every thread of the daemon processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, switches = 0.0, 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                            switches += int(line.split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return cpu, switches


TRACEFS = "/sys/kernel/tracing"
_ENTRIES = re.compile(r"entries-in-buffer/entries-written: (\d+)/(\d+)")


def _mount_tracefs():
    """Mounts tracefs where the kernel expects it, if nothing did (a machine without systemd as
    PID 1 may leave it unmounted)."""
    if os.path.isdir(os.path.join(TRACEFS, "events")):
        return
    proc = subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACEFS], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise system.BenchError(f"mount -t tracefs tracefs {TRACEFS}: {proc.stderr.strip()}")


class _FuseTrace:
    """A private tracefs instance recording fuse:fuse_request_send for one FUSE connection
    (faster to set up than `perf record -a`, and it leaves the global trace buffer alone)."""

    def __init__(self, mountpoint):
        _mount_tracefs()
        event = os.path.join(TRACEFS, "events/fuse/fuse_request_send")
        if not os.path.isdir(event):
            raise system.BenchError(f"{event}: no fuse tracepoints in this kernel")
        self.dir = os.path.join(TRACEFS, "instances", f"bench-{os.getpid()}")
        if os.path.isdir(self.dir):
            os.rmdir(self.dir)
        os.mkdir(self.dir)
        try:
            self._write("buffer_size_kb", "65536")
            # The event's dev_t is the kernel encoding; a FUSE connection's major is 0.
            minor = os.minor(os.stat(mountpoint).st_dev)
            self._write("events/fuse/fuse_request_send/filter", f"connection == {minor}")
            self._write("events/fuse/fuse_request_send/enable", "1")
        except OSError as e:
            self.close()
            raise system.BenchError(f"tracefs: {e}") from None

    def _write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)

    def counts(self):
        """Stops recording; returns a Counter of opcodes (without the FUSE_ prefix)."""
        self._write("events/fuse/fuse_request_send/enable", "0")
        with open(os.path.join(self.dir, "trace")) as f:
            text = f.read()
        m = _ENTRIES.search(text)
        if m and m.group(1) != m.group(2):
            raise system.BenchError(f"trace buffer overflowed ({m.group(1)} of {m.group(2)} "
                                    "requests kept)")
        return collections.Counter(m.group(2).removeprefix("FUSE_")
                                   for m in _TRACE.finditer(text))

    def close(self):
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def run_census(cfg, workload, ctx, warm, repeat, out_dir):
    """Counts FUSE requests by opcode during the workload; returns a dict for results.json."""
    del out_dir  # nothing to keep: the counts are the result
    mp = cfg.mountpoint
    if warm:
        workload.prime(mp, ctx)
        workload.run(mp, ctx, warm=True)
    runs = repeat if warm else 1
    trace = _FuseTrace(mp)
    try:
        cpu0, sw0 = _cpu_and_switches(cfg.daemon_pids())
        start = time.perf_counter()
        for _ in range(runs):
            workload.run(mp, ctx, warm=warm)
        wall = time.perf_counter() - start
        cpu1, sw1 = _cpu_and_switches(cfg.daemon_pids())
        counts = trace.counts()
    finally:
        trace.close()
    return {"requests": {k: v / runs for k, v in counts.most_common()},
            "total": sum(counts.values()) / runs, "wall_s": wall / runs,
            "daemon_cpu_s": (cpu1 - cpu0) / runs, "daemon_ctxsw": (sw1 - sw0) / runs}


def run_perf(cfg, workload, ctx, warm, repeat, out_dir):
    """perf record of the daemon during the workload; writes perf.txt, returns its path."""
    mp = cfg.mountpoint
    if warm:
        workload.prime(mp, ctx)
        workload.run(mp, ctx, warm=True)
    data = os.path.join(out_dir, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "4999", "--call-graph", "dwarf,32768",
                             "-o", data, "-p", ",".join(map(str, cfg.daemon_pids()))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let perf attach to every thread
    for _ in range(repeat if warm else 1):
        workload.run(mp, ctx, warm=warm)
    perf.send_signal(signal.SIGINT)
    _, err = perf.communicate(timeout=120)
    if perf.returncode not in (0, -signal.SIGINT):
        raise system.BenchError(f"perf record: {err.strip()}")
    report = os.path.join(out_dir, "perf.txt")
    with open(report, "w") as f:
        for title, extra in (("self time per symbol", ["--no-children"]),
                             ("inclusive time (children) per symbol", ["--children"])):
            proc = system.run(["perf", "report", "-i", data, "--stdio", "--sort", "dso,symbol",
                               "--percent-limit", "0.7", "-g", "none"] + extra, timeout=600)
            f.write(f"#### {title}\n")
            f.write("\n".join(ln for ln in proc.stdout.splitlines() if ln and ln[0] != "#"))
            f.write("\n\n")
    os.unlink(data)
    return report


CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=no"]


def run_callgrind(cfg, workload, ctx, warm, repeat, out_dir):
    """The daemon is already running under CALLGRIND (cfg.launcher); instrument the workload."""
    mp = cfg.mountpoint
    if warm:
        workload.prime(mp, ctx)
        workload.run(mp, ctx, warm=True)
    pid = str(cfg.daemon_pids()[0])
    system.run(["callgrind_control", "-i", "on", pid])
    for _ in range(repeat if warm else 1):
        workload.run(mp, ctx, warm=warm)
    system.run(["callgrind_control", "-i", "off", pid])
    return os.path.join(out_dir, "callgrind.out")


def annotate_callgrind(out_file):
    report = out_file + ".txt"
    with open(report, "w") as f:
        for flag in ("--inclusive=no", "--inclusive=yes"):
            proc = system.run(["callgrind_annotate", flag, "--threshold=95", out_file],
                              check=False)
            f.write(f"#### callgrind_annotate {flag}\n" + proc.stdout + "\n")
    return report
