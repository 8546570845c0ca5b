"""Process, mount and cache helpers shared by every other module.

Everything that touches the machine (running commands, dropping caches, finding a FUSE daemon's
process) lives here so the rest of the harness reads as a description of the benchmark.
"""
import json
import os
import platform
import shutil
import subprocess
import time


_START = time.monotonic()


def log(msg):
    """Progress line with the time since start: `bench +03:25 [gen] webcfs: ...`."""
    t = int(time.monotonic() - _START)
    print(f"bench +{t // 60:02d}:{t % 60:02d} {msg}", flush=True)


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def run(argv, *, check=True, capture=True, timeout=None, cwd=None, env=None):
    """Runs argv (a list) and returns the CompletedProcess; raises BenchError on failure."""
    try:
        proc = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout, cwd=cwd,
                              env=env)
    except FileNotFoundError:
        raise BenchError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)}: timed out after {timeout} s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise BenchError(f"{' '.join(argv)}: exit {proc.returncode}"
                         + (f": {detail[-1]}" if detail else ""))
    return proc


def shell(cmd, *, timeout=None):
    """Runs a bash pipeline with pipefail; returns (seconds, CompletedProcess)."""
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True,
                          text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()
        raise BenchError(f"`{cmd}`: exit {proc.returncode}" + (f": {detail[-1]}" if detail else ""))
    return elapsed, proc


def drop_caches():
    """Cold = nothing of the image or the tree left in the guest's page, dentry or inode caches."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_until_answered(mountpoint, parent_dev, timeout=30.0):
    """Blocks until a stat of the mountpoint is answered by the new filesystem.

    The stat itself waits for a FUSE daemon's reply, so this measures "first answered request"
    for daemons that return before or after mounting alike.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.stat(mountpoint).st_dev != parent_dev:
                return
        except OSError:
            pass  # ENOTCONN while a daemon is still starting
        if time.monotonic() > deadline:
            raise BenchError(f"{mountpoint}: no filesystem answered within {timeout} s")
        time.sleep(0.0005)


def daemon_pids(mountpoint):
    """PIDs of the processes whose command line names the mountpoint (the FUSE daemon)."""
    target = os.path.realpath(mountpoint).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.rstrip(b"/") == target for a in args[1:]):
            pids.append(int(entry))
    return pids


def proc_status_kib(pid, field):
    """A 'kB' field of /proc/PID/status (VmHWM, VmRSS), in KiB; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_pids_gone(pids, timeout=20.0):
    """Waits until each daemon has exited (a zombie counts: init may reap it much later)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _alive(pid):
            if time.monotonic() > deadline:
                raise BenchError(f"daemon pid {pid} did not exit after unmount")
            time.sleep(0.002)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def tool_version(argv, pattern_line=0):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[pattern_line].strip() if len(lines) > pattern_line else "unknown"


def deb_version(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                          text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "not installed"


def machine_info(repo_dir, webcfs_bin):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    commit = run(["git", "-C", repo_dir, "rev-parse", "--short", "HEAD"], check=False).stdout
    dirty = run(["git", "-C", repo_dir, "status", "--porcelain", "--untracked-files=no"],
                check=False).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_release(),
        "libfuse": deb_version("libfuse3-3"),
        "squashfuse": deb_version("squashfuse"),
        "fuse-overlayfs": deb_version("fuse-overlayfs"),
        "squashfs-tools": deb_version("squashfs-tools"),
        "erofs-utils": deb_version("erofs-utils"),
        "fio": deb_version("fio"),
        "python": platform.python_version(),
        "webcfs_commit": commit.strip() + ("+dirty" if dirty else ""),
        "webcfs_binary": webcfs_bin,
    }


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def require_tools(names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise BenchError("missing tools: " + ", ".join(missing) + " (run scripts/setup.sh)")


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
