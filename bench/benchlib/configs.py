"""The configurations under test: how each one mounts, unmounts and names its daemon.

Single-tree configurations serve one content; merge configurations serve three layers with the
top one winning. Each `up()` returns the mount time: from the first mount command to the first
request the new filesystem answered (a stat of the mountpoint), resolution included for webcfs.
"""
import os
import subprocess
import time

from . import system

SINGLE = ["webcfs", "sqll", "sqll-gz", "ksq", "kerofs"]
MERGE = ["webcfs", "kovl", "fovl"]
LABELS = {
    "webcfs": "webcfs",
    "sqll": "squashfuse_ll (uncompressed -noD)",
    "sqll-gz": "squashfuse_ll (gzip)",
    "ksq": "kernel squashfs (gzip, loop)",
    "ksq-raw": "kernel squashfs (uncompressed, loop)",
    "kerofs": "kernel EROFS (uncompressed, loop)",
    "kovl": "kernel overlayfs over 3 EROFS",
    "fovl": "fuse-overlayfs over 3 EROFS",
}
FUSE_CONFIGS = {"webcfs", "sqll", "sqll-gz", "fovl"}


class Config:
    """A mountable configuration. Subclasses define _mount() and _unmount()."""

    def __init__(self, name, mountpoint, log_path):
        self.name = name
        self.label = LABELS[name]
        self.fuse = name in FUSE_CONFIGS
        self.mountpoint = mountpoint
        self.log_path = log_path
        self.mounted = False
        self._pids = []

    def up(self, timeout=30.0):
        """Mounts; returns seconds from the mount command to the first answered request."""
        if self.mounted:
            raise system.BenchError(f"{self.name}: already mounted")
        dev = os.stat(self.mountpoint).st_dev
        start = time.perf_counter()
        self.mounted = True  # set early so a failed half-mount is still cleaned up
        self._mount()
        system.wait_until_answered(self.mountpoint, dev, timeout)
        elapsed = time.perf_counter() - start
        if self.fuse:
            self._pids = system.daemon_pids(self.mountpoint)
            if not self._pids:
                raise system.BenchError(f"{self.name}: no daemon process found for "
                                        f"{self.mountpoint}")
        return elapsed

    def down(self):
        if not self.mounted:
            return
        self._unmount()
        system.wait_pids_gone(self._pids)
        self._pids = []
        self.mounted = False

    def remount_cold(self):
        """Cold = unmount, sync, drop caches, remount (a FUSE daemon loses its own caches too)."""
        self.down()
        system.drop_caches()
        return self.up()

    def daemon_memory_kib(self):
        """{"hwm", "rss", "anon", "file"} of the daemon in KiB, summed over its processes (peak
        RSS, current RSS and its anonymous / file-backed parts: an mmap'd image counts as file);
        None for a kernel filesystem."""
        if not self.fuse or not self._pids:
            return None
        out = {}
        for key, field in (("hwm", "VmHWM"), ("rss", "VmRSS"), ("anon", "RssAnon"),
                           ("file", "RssFile")):
            values = [system.proc_status_kib(p, field) for p in self._pids]
            if None in values:
                raise system.BenchError(f"{self.name}: daemon exited while mounted")
            out[key] = sum(values)
        return out

    def daemon_pids(self):
        return list(self._pids)

    # -- helpers for subclasses

    def _cmd(self, argv):
        """Runs a mount command with output to the config's log (never a pipe: a daemon that
        keeps the pipe open would make us wait for it to exit)."""
        with open(self.log_path, "a") as log:
            log.write("$ " + " ".join(argv) + "\n")
            log.flush()
            proc = subprocess.run(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise system.BenchError(f"{self.name}: `{' '.join(argv)}` exit {proc.returncode}: "
                                    + self._log_tail())

    def _log_tail(self):
        try:
            with open(self.log_path) as f:
                lines = f.read().strip().splitlines()
            return " | ".join(lines[-3:])
        except OSError:
            return ""

    def _fuse_unmount(self, argv=None):
        argv = argv or ["fusermount3", "-u", self.mountpoint]
        for attempt in range(50):  # EBUSY right after a workload's last close is transient
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode == 0 or not system.is_mounted(self.mountpoint):
                return
            time.sleep(0.1)
        raise system.BenchError(f"{self.name}: unmount failed: {proc.stderr.strip()}")

    def _kernel_unmount(self, path):
        for attempt in range(50):
            proc = subprocess.run(["umount", path], capture_output=True, text=True)
            if proc.returncode == 0 or not system.is_mounted(path):
                return
            time.sleep(0.1)
        raise system.BenchError(f"{self.name}: umount {path} failed: {proc.stderr.strip()}")

    def force_cleanup(self):
        """Last resort at exit: lazy-unmount whatever is still there."""
        for path in [self.mountpoint] + getattr(self, "lowers", []):
            if system.is_mounted(path):
                subprocess.run(["umount", "-l", path], capture_output=True)
        self.mounted = False


class Kernel(Config):
    def __init__(self, name, mountpoint, log_path, fstype, image):
        super().__init__(name, mountpoint, log_path)
        self.fstype, self.image = fstype, image

    def _mount(self):
        self._cmd(["mount", "-t", self.fstype, "-o", "loop,ro", self.image, self.mountpoint])

    def _unmount(self):
        self._kernel_unmount(self.mountpoint)


class Daemon(Config):
    """A FUSE daemon we start ourselves. With `launcher` set (valgrind for a profile), the daemon
    runs in the foreground under it, started in the background by us."""

    launcher = None

    def daemon_argv(self, foreground):
        raise NotImplementedError

    def _mount(self):
        if self.launcher is None:
            self._cmd(self.daemon_argv(foreground=False))
            return
        argv = self.launcher + self.daemon_argv(foreground=True)
        with open(self.log_path, "a") as log:
            log.write("$ " + " ".join(argv) + " &\n")
            log.flush()
            subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)


class SquashfuseLL(Daemon):
    def __init__(self, name, mountpoint, log_path, image):
        super().__init__(name, mountpoint, log_path)
        self.image = image

    def daemon_argv(self, foreground):
        return ["squashfuse_ll"] + (["-f"] if foreground else []) + [self.image, self.mountpoint]

    def _unmount(self):
        self._fuse_unmount()


class Webcfs(Daemon):
    def __init__(self, name, mountpoint, log_path, binary, spec, registry, extra_args):
        super().__init__(name, mountpoint, log_path)
        self.binary, self.spec, self.registry, self.extra_args = (binary, spec, registry,
                                                                  extra_args)

    def daemon_argv(self, foreground):
        return ([self.binary, "mount", self.spec, self.mountpoint, "--registry", self.registry]
                + self.extra_args + (["--foreground"] if foreground else []))

    def _unmount(self):
        self._fuse_unmount([self.binary, "unmount", self.mountpoint])


class Overlay(Config):
    """Kernel overlayfs or fuse-overlayfs over per-layer kernel EROFS mounts (top layer first)."""

    def __init__(self, name, mountpoint, log_path, layer_images, lower_dirs):
        super().__init__(name, mountpoint, log_path)
        self.layer_images = layer_images  # top first
        self.lowers = lower_dirs

    def _mount(self):
        for image, path in zip(self.layer_images, self.lowers):
            self._cmd(["mount", "-t", "erofs", "-o", "loop,ro", image, path])
        lowerdir = "lowerdir=" + ":".join(self.lowers)
        if self.name == "kovl":
            self._cmd(["mount", "-t", "overlay", "overlay", "-o", "ro," + lowerdir,
                       self.mountpoint])
        else:
            self._cmd(["fuse-overlayfs", "-o", lowerdir, self.mountpoint])

    def _unmount(self):
        if self.name == "kovl":
            self._kernel_unmount(self.mountpoint)
        else:
            self._fuse_unmount()
            system.wait_pids_gone(self._pids)
        for path in self.lowers:
            self._kernel_unmount(path)


def webcfs_extra_args(binary, cache_dir):
    """Options this webcfs build understands that make the comparison fair: no /.webc control
    directory (the peers have none) and a cache inside the bench workdir."""
    proc = subprocess.run([binary, "mount", "--help"], capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0 or "mount" not in text:
        raise system.BenchError(f"{binary}: no working `mount` subcommand yet")
    args = []
    if "--no-meta-dir" in text:
        args.append("--no-meta-dir")
    if "--cache" in text:
        args += ["--cache", cache_dir]
    return args
