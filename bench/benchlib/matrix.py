"""Runs suites (a content x its configurations x workloads) and collects raw samples.

Per configuration, in this order:
  1. mount and compare the tree with the source (a mismatch stops that configuration: a fast
     wrong answer must not produce numbers);
  2. mount time: warm (unmount, mount) and cold (unmount, sync, drop caches, mount);
  3. every workload cold: each sample after unmount, sync, drop caches, remount;
  4. every workload warm, on one fresh mount: one unrecorded warmup run, then the samples;
  5. the daemon's peak RSS (VmHWM) after those warm walks.
Scaling suites replace 3-5 with: cold remount, RSS, one timed stat walk of every entry, RSS.
"""
import os
import shlex
import time

from . import configs as cfgs
from . import images
from . import profile
from . import system
from . import verify
from . import workloads as wl


class Suite:
    def __init__(self, name, title, content, configs, workloads, reps_cold, reps_warm,
                 kind="single", hashes=True):
        self.name = name
        self.title = title
        self.content = content      # content.Content, or content.MergeSet for kind "merge"
        self.configs = configs
        self.workloads = workloads  # names from workloads.ALL
        self.reps_cold = reps_cold
        self.reps_warm = reps_warm
        self.kind = kind            # "single", "merge" or "scale"
        self.hashes = hashes        # compare file contents too (scaling: names/types/sizes)


class Results:
    def __init__(self):
        self.samples = {}   # (suite, config, metric, mode) -> {"unit": u, "samples": [...]}
        self.checks = {}    # (suite, config) -> {"ok": bool, "entries": n, "diffs": [...]}
        self.errors = []    # {"suite", "config", "error"}
        self.suites = {}    # suite -> {"title", "kind", "stats", "configs", "images"}
        self.profiles = {}  # "suite/workload/mode/config" -> {"census": {...}, "perf": path}
        self.census = {}    # "suite/config/workload/mode" -> profile.run_census() result
        self.notes = []     # things the reader should know that are not failures

    def add(self, suite, config, metric, mode, unit, value):
        row = self.samples.setdefault((suite, config, metric, mode),
                                      {"unit": unit, "samples": []})
        row["samples"].append(value)

    def to_json(self):
        return {
            "suites": self.suites,
            "checks": [dict(suite=s, config=c, **v) for (s, c), v in self.checks.items()],
            "errors": self.errors,
            "samples": [dict(suite=s, config=c, metric=m, mode=mo, **v)
                        for (s, c, m, mo), v in self.samples.items()],
            "profiles": self.profiles,
            "census": self.census,
            "notes": self.notes,
        }


class Runner:
    def __init__(self, env, results):
        self.env = env  # workdir, tmp, webcfs, webcfs_args, fio_runtime, mount_reps, log
        self.results = results
        self.active = []

    # -- configurations

    def _make_config(self, suite, name):
        env, c = self.env, suite.content
        mp = os.path.join(env["tmp"], f"mnt-{name}")
        os.makedirs(mp, exist_ok=True)
        log = os.path.join(env["workdir"], "logs", f"{suite.name}-{name}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        imgs = self.results.suites[suite.name]["images"]
        if suite.kind == "merge":
            if name == "webcfs":
                registry = os.path.join(env["workdir"], "registry", suite.name)
                os.makedirs(registry, exist_ok=True)
                below = None
                for layer in c.layers:
                    path = images.webc(env["workdir"], layer, registry, env["webcfs"], below)
                    imgs[f"webc:{layer.label}"] = images.size_of(path)
                    below = layer
                return cfgs.Webcfs(name, mp, log, env["webcfs"], images.package_spec(below),
                                   registry, self._webcfs_args())
            layer_images = []
            for layer in c.layers:
                path = images.erofs(env["workdir"], layer)
                imgs[f"erofs:{layer.label}"] = images.size_of(path)
                layer_images.append(path)
            lowers = []
            for i in range(len(c.layers), 0, -1):  # top layer first, as lowerdir wants it
                lowers.append(os.path.join(env["tmp"], f"{name}-l{i}"))
                os.makedirs(lowers[-1], exist_ok=True)
            return cfgs.Overlay(name, mp, log, layer_images[::-1], lowers)
        if name == "webcfs":
            registry = os.path.join(env["workdir"], "registry", suite.content.key)
            os.makedirs(registry, exist_ok=True)
            path = images.webc(env["workdir"], c, registry, env["webcfs"])
            imgs["webc"] = images.size_of(path)
            return cfgs.Webcfs(name, mp, log, env["webcfs"], images.package_spec(c), registry,
                               self._webcfs_args())
        if name in ("sqll", "sqll-gz", "ksq", "ksq-raw"):
            gz = name in ("sqll-gz", "ksq")
            path = images.squashfs(env["workdir"], c, compressed=gz)
            imgs["squashfs-gzip" if gz else "squashfs-raw"] = images.size_of(path)
            if name.startswith("sqll"):
                return cfgs.SquashfuseLL(name, mp, log, path)
            return cfgs.Kernel(name, mp, log, "squashfs", path)
        if name == "kerofs":
            path = images.erofs(env["workdir"], c)
            imgs["erofs"] = images.size_of(path)
            return cfgs.Kernel(name, mp, log, "erofs", path)
        raise system.BenchError(f"unknown configuration {name}")

    def _webcfs_args(self):
        if self.env.get("webcfs_args") is None:
            self.env["webcfs_args"] = cfgs.webcfs_extra_args(
                self.env["webcfs"], os.path.join(self.env["workdir"], "webcfs-cache"))
        return self.env["webcfs_args"]

    # -- suites

    def _suite_info(self, suite):
        return self.results.suites.setdefault(suite.name, {
            "title": suite.title, "kind": suite.kind, "stats": suite.content.stats(),
            "configs": suite.configs, "workloads": suite.workloads, "images": {}})

    def run_suite(self, suite):
        self._suite_info(suite)
        for name in suite.configs:
            started = time.monotonic()
            cfg = None
            try:
                cfg = self._make_config(suite, name)
                self.active.append(cfg)
                if suite.kind == "scale":
                    self._run_scale(suite, cfg)
                else:
                    self._run_config(suite, cfg)
                cfg.down()
            except system.BenchError as e:
                self.results.errors.append({"suite": suite.name, "config": name,
                                            "error": str(e)})
                self._log(f"[{suite.name}] {name}: FAILED: {e}")
            finally:
                if cfg is not None:
                    try:
                        cfg.down()
                    except system.BenchError:
                        cfg.force_cleanup()
                    self.active.remove(cfg)
            self._log(f"[{suite.name}] {name}: done in {time.monotonic() - started:.0f} s")

    def prepare(self, suite):
        """Builds every image the suite's configurations need, without mounting anything."""
        self._suite_info(suite)
        for name in suite.configs:
            try:
                self._make_config(suite, name)
            except system.BenchError as e:
                self._log(f"[{suite.name}] {name}: cannot prepare: {e}")

    def run_profile(self, suite, workload, mode, tools, repeat, out_root):
        """Profiles one workload on every FUSE configuration of the suite (see profile.py)."""
        self._suite_info(suite)
        w = wl.ALL[workload]
        ctx = self._fio_ctx(suite) or {}
        if w.needs_big and not ctx:
            return
        for name in suite.configs:
            if name not in cfgs.FUSE_CONFIGS:
                continue
            out_dir = os.path.join(out_root, f"{suite.name}-{workload}-{mode}-{name}")
            os.makedirs(out_dir, exist_ok=True)
            entry = self.results.profiles.setdefault(f"{suite.name}/{workload}/{mode}/{name}",
                                                     {})
            for tool in tools:
                cfg = self._make_config(suite, name)
                self.active.append(cfg)
                try:
                    if tool == "callgrind":
                        if not isinstance(cfg, cfgs.Daemon):
                            continue
                        cfg.launcher = profile.CALLGRIND + [
                            f"--callgrind-out-file={out_dir}/callgrind.out"]
                    cfg.up(timeout=180)
                    if mode == "cold":
                        system.drop_caches()
                    run = {"census": profile.run_census, "perf": profile.run_perf,
                           "callgrind": profile.run_callgrind}[tool]
                    got = run(cfg, w, ctx, mode == "warm", repeat, out_dir)
                    cfg.down()
                    if tool == "callgrind":
                        got = profile.annotate_callgrind(got)
                    entry[tool] = got if tool == "census" else os.path.relpath(got, out_root)
                    self._log(f"[{suite.name}] {name}: profiled {workload} {mode} with {tool}")
                except system.BenchError as e:
                    self.results.errors.append({"suite": suite.name, "config": name,
                                                "error": f"profile {tool}: {e}"})
                    self._log(f"[{suite.name}] {name}: profile {tool} FAILED: {e}")
                finally:
                    try:
                        cfg.down()
                    except system.BenchError:
                        cfg.force_cleanup()
                    self.active.remove(cfg)

    def cleanup(self):
        for cfg in self.active:
            cfg.force_cleanup()

    def _verify(self, suite, cfg):
        cfg.up()
        expected = suite.content.manifest()
        diffs = verify.compare(cfg.mountpoint, expected, hashes=suite.hashes)
        self.results.checks[(suite.name, cfg.name)] = {
            "ok": not diffs, "entries": len(expected), "contents_compared": suite.hashes,
            "diffs": diffs}
        if diffs:
            raise system.BenchError("mounted tree differs from the source: " + "; ".join(diffs))
        self._log(f"[{suite.name}] {cfg.name}: tree equals the source ({len(expected)} entries"
                  + (", contents compared)" if suite.hashes else ", names/types/sizes)"))

    def _mount_times(self, suite, cfg):
        add = self.results.add
        for _ in range(self.env["mount_reps"]):
            cfg.down()
            add(suite.name, cfg.name, "mount", "warm", "ms", cfg.up() * 1000)
        for _ in range(suite.reps_cold):
            add(suite.name, cfg.name, "mount", "cold", "ms", cfg.remount_cold() * 1000)

    def _run_config(self, suite, cfg):
        self._verify(suite, cfg)
        self._mount_times(suite, cfg)
        ctx = self._fio_ctx(suite)
        add = self.results.add
        if ctx is None:
            ctx = {}
        todo = [wl.ALL[n] for n in suite.workloads if ctx or not wl.ALL[n].needs_big]
        for w in todo:
            for _ in range(suite.reps_cold):
                cfg.remount_cold()
                add(suite.name, cfg.name, w.name, "cold", w.unit,
                    w.run(cfg.mountpoint, ctx, warm=False))
            self._log_metric(suite, cfg, w, "cold")
        cfg.remount_cold()  # warm block: one fresh daemon, so its peak RSS is the warm walks'
        for w in todo:
            w.prime(cfg.mountpoint, ctx)
            w.run(cfg.mountpoint, ctx, warm=True)  # warmup, not recorded
            for _ in range(suite.reps_warm):
                add(suite.name, cfg.name, w.name, "warm", w.unit,
                    w.run(cfg.mountpoint, ctx, warm=True))
            self._log_metric(suite, cfg, w, "warm")
        mem = cfg.daemon_memory_kib()
        if mem is not None:
            for key in ("hwm", "rss", "anon", "file"):
                add(suite.name, cfg.name, key, "warm", "KiB", mem[key])
        if self.env.get("census") and cfg.fuse:
            self._census(suite, cfg, todo, ctx)

    def _census(self, suite, cfg, todo, ctx):
        """One extra, untimed run per workload and mode counting the FUSE requests it caused."""
        try:
            for w in todo:
                self.results.census[f"{suite.name}/{cfg.name}/{w.name}/warm"] = (
                    profile.run_census(cfg, w, ctx, True, 1, self.env["tmp"]))
            for w in todo:
                cfg.remount_cold()
                self.results.census[f"{suite.name}/{cfg.name}/{w.name}/cold"] = (
                    profile.run_census(cfg, w, ctx, False, 1, self.env["tmp"]))
        except system.BenchError as e:  # e.g. a kernel without fuse tracepoints: no census
            self.results.notes.append(f"{suite.name}/{cfg.name}: no request census: {e}")
            self._log(f"[{suite.name}] {cfg.name}: no request census: {e}")

    def _run_scale(self, suite, cfg):
        """Scaling point: the cold stat walk of every entry doubles as the correctness check
        (names, types, sizes of its output against the source), so a 1M-entry tree is walked
        once per configuration; a mismatch discards every number of the configuration."""
        add = self.results.add
        cfg.up()
        cfg.remount_cold()
        mem = cfg.daemon_memory_kib()
        listing = os.path.join(self.env["tmp"], "walk.txt")
        elapsed, _ = system.shell(f"find {shlex.quote(cfg.mountpoint)} -mindepth 1 "
                                  f"-printf '%y %s %P\\n' >{listing}")
        mem_walked = cfg.daemon_memory_kib()
        expected = suite.content.manifest()
        diffs = verify.compare_listing(listing, expected)
        os.unlink(listing)
        self.results.checks[(suite.name, cfg.name)] = {
            "ok": not diffs, "entries": len(expected), "contents_compared": False,
            "diffs": diffs}
        if diffs:
            raise system.BenchError("mounted tree differs from the source: " + "; ".join(diffs))
        self._log(f"[{suite.name}] {cfg.name}: tree equals the source ({len(expected)} entries,"
                  " names/types/sizes)")
        add(suite.name, cfg.name, "walk", "cold", "s", elapsed)
        if mem is not None:
            add(suite.name, cfg.name, "hwm-mounted", "cold", "KiB", mem["hwm"])
            for key in ("hwm", "anon", "file"):
                add(suite.name, cfg.name, key, "warm", "KiB", mem_walked[key])
        self._log(f"[{suite.name}] {cfg.name}: walk {elapsed:.2f} s"
                  + (f", VmHWM {mem_walked['hwm']} KiB" if mem else ""))
        self._mount_times(suite, cfg)

    def _fio_ctx(self, suite):
        c = suite.content.layers[0] if suite.kind == "merge" else suite.content
        if not c.big_files:
            return None
        return {"big": c.big_files[0], "big_size": str(c.big_size),
                "io_size": str(min(4 << 20, c.big_size)), "runtime": str(self.env["fio_runtime"])}

    def _log_metric(self, suite, cfg, w, mode):
        row = self.results.samples.get((suite.name, cfg.name, w.name, mode))
        if row:
            vals = " ".join(f"{v:.3g}" for v in row["samples"])
            self._log(f"[{suite.name}] {cfg.name}: {w.name} {mode}: {vals} {w.unit}")

    def _log(self, msg):
        system.log(msg)
