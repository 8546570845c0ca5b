"""The workloads of docs/performance.md, "Method", as shell commands over a mountpoint P.

Each workload yields one number per run: seconds for the tree walks, MiB/s or IOPS for fio.
Pitfalls handled here (docs/performance.md, "Method"): tar writes to a pipe so GNU tar really reads the
data; warm fio runs pass --invalidate=0 so fio does not drop the page cache it is measuring;
cold random reads are bounded by --io_size so they do not turn warm halfway.
"""
import json
import shlex

from . import system


class Workload:
    def __init__(self, name, title, unit, cold, warm=None, prime=None, needs_big=False):
        self.name = name
        self.title = title
        self.unit = unit          # "s", "MiB/s" or "IOPS"
        self._cold = cold         # command template for a cold run
        self._warm = warm or cold  # command template for a warm run
        self._prime = prime       # command run once before the warm runs (besides a warmup)
        self.needs_big = needs_big

    @property
    def higher_is_better(self):
        return self.unit != "s"

    def command(self, mountpoint, ctx, warm):
        return (self._warm if warm else self._cold).format(P=shlex.quote(mountpoint), **ctx)

    def run(self, mountpoint, ctx, warm):
        """Runs once; returns the measured value (seconds, MiB/s or IOPS)."""
        cmd = self.command(mountpoint, ctx, warm)
        elapsed, proc = system.shell(cmd, timeout=1800)
        if self.unit == "s":
            return elapsed
        return _fio_value(proc.stdout, self.unit, cmd)

    def prime(self, mountpoint, ctx):
        if self._prime:
            system.shell(self._prime.format(P=shlex.quote(mountpoint), **ctx))


def _fio_value(output, unit, cmd):
    try:
        job = json.loads(output[output.index("{"):])["jobs"][0]["read"]
    except (ValueError, KeyError, IndexError):
        raise system.BenchError(f"`{cmd}`: unreadable fio output") from None
    if job.get("io_bytes", 0) <= 0:
        raise system.BenchError(f"`{cmd}`: fio read nothing")
    return job["bw_bytes"] / (1024 * 1024) if unit == "MiB/s" else job["iops"]


_FIO = ("fio --name={name} --filename={P}/{big} --readonly --ioengine=psync --size={big_size} "
        "--output-format=json")
_SEQ = _FIO.format(name="seq", P="{P}", big="{big}", big_size="{big_size}") + " --rw=read --bs=1M"
_RAND = (_FIO.format(name="rand", P="{P}", big="{big}", big_size="{big_size}")
         + " --rw=randread --bs=4k --randrepeat=1")

ALL = {w.name: w for w in [
    Workload("stat", "stat all", "s",
             "find {P} -type f -print0 | xargs -0 stat -c %s >/dev/null"),
    Workload("ls", "ls -lR", "s", "ls -lR {P} >/dev/null"),
    Workload("cat", "cat small files", "s",
             "find {P} -type f -size -1024k -print0 | xargs -0 cat >/dev/null"),
    Workload("tar", "tar | cat", "s", "tar cf - -C {P} . | cat >/dev/null"),
    Workload("par16", "16 parallel readers (cat small)", "s",
             "find {P} -type f -size -1024k -print0 | xargs -0 -P 16 -n 64 cat >/dev/null"),
    # Warm: one pass over a cached 50 MiB file lasts ~10 ms, and fio's
    # millisecond clock turns that into 4545 / 5000 / 5556 MiB/s steps; loop
    # over the file for the whole runtime instead.
    Workload("seq", "seq read 1 MiB (fio)", "MiB/s", _SEQ,
             warm=_SEQ + " --invalidate=0 --time_based --runtime={runtime}",
             prime="cat {P}/{big} >/dev/null", needs_big=True),
    Workload("rand", "random 4k read (fio)", "IOPS", _RAND + " --io_size={io_size}",
             warm=_RAND + " --invalidate=0 --norandommap --time_based --runtime={runtime}",
             prime="cat {P}/{big} >/dev/null", needs_big=True),
]}
