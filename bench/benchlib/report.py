"""Raw results (JSON, CSV), RESULTS.md with medians, spread and ratios, gnuplot PNG plots."""
import csv
import os
import statistics
import subprocess

from . import configs as cfgs
from . import system
from . import workloads as wl

MB = 1000 * 1000  # the RSS target: 2 MB + 100 bytes per entry

METRIC_TITLES = {"mount": "mount", "hwm": "daemon VmHWM", "rss": "daemon VmRSS",
                 "walk": "stat walk", "hwm-mounted": "VmHWM after mount"}
METRIC_TITLES.update({n: w.title for n, w in wl.ALL.items()})
HIGHER_IS_BETTER = {"MiB/s", "IOPS"}
MEMORY_TITLES = {"hwm": "daemon VmHWM after warm runs", "anon": "daemon RssAnon at the end",
                 "file": "daemon RssFile at the end (code + mapped files)"}


# ---------------------------------------------------------------------------------------------
# Statistics


class Stat:
    def __init__(self, unit, samples):
        self.unit = unit
        self.samples = samples
        self.median = statistics.median(samples)
        self.lo = min(samples)
        self.hi = max(samples)

    @property
    def better_high(self):
        return self.unit in HIGHER_IS_BETTER


def _stats(results):
    return {k: Stat(v["unit"], v["samples"]) for k, v in results.samples.items()
            if v["samples"]}


def ratio(a, b):
    """a relative to b as a slowdown factor (>1 = a is slower), whatever the unit."""
    if a is None or b is None or a.median <= 0 or b.median <= 0:
        return None
    return b.median / a.median if a.better_high else a.median / b.median


def _fmt(v, unit):
    if unit == "s":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    if unit == "ms":
        return f"{v:.1f}" if v < 100 else f"{v:.0f}"
    if unit == "KiB":
        return f"{v / 1024:.1f} MiB"
    return f"{v:.0f}"


def _cell(st, base_st, show_ratio=True):
    if st is None:
        return "–"
    text = _fmt(st.median, st.unit)
    if len(st.samples) > 1:
        text += f" [{_fmt(st.lo, st.unit)}–{_fmt(st.hi, st.unit)}]"
    r = ratio(st, base_st) if show_ratio else None
    if r is not None:
        text += f" (×{r:.2f})"
    return text


# ---------------------------------------------------------------------------------------------
# Output


def write_all(out, meta, results):
    res_dir = os.path.join(out, "results")
    os.makedirs(res_dir, exist_ok=True)
    data = {"meta": meta, **results.to_json()}
    system.write_json(os.path.join(res_dir, "results.json"), data)
    _write_csv(os.path.join(res_dir, "results.csv"), results)
    stats = _stats(results)
    plots = _plots(res_dir, results, stats)
    md = _markdown(meta, results, stats, plots)
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write(md)


def _write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["suite", "config", "metric", "mode", "unit", "n", "median", "min", "max",
                    "samples"])
        for (suite, config, metric, mode), row in sorted(results.samples.items()):
            s = row["samples"]
            if not s:
                continue
            w.writerow([suite, config, metric, mode, row["unit"], len(s),
                        f"{statistics.median(s):.6g}", f"{min(s):.6g}", f"{max(s):.6g}",
                        " ".join(f"{v:.6g}" for v in s)])


def completeness(results, suites):
    """{(suite, config): [problems]} for every pair the run was asked for (empty = complete)."""
    out = {}
    for suite in suites:
        for config in suite.configs:
            problems = []
            check = results.checks.get((suite.name, config))
            if check is None:
                problems.append("tree was never compared with the source")
            elif not check["ok"]:
                problems.append("tree differs from the source")
            for e in results.errors:
                if (e["suite"], e["config"]) == (suite.name, config):
                    problems.append(e["error"])
            wanted = [("mount", "warm"), ("mount", "cold")]
            if suite.kind == "scale":
                wanted.append(("walk", "cold"))
            else:
                for name in suite.workloads:
                    if wl.ALL[name].needs_big and not _has_big(suite):
                        continue
                    wanted += [(name, "cold"), (name, "warm")]
            if config in cfgs.FUSE_CONFIGS:
                wanted.append(("hwm", "warm"))
            for metric, mode in wanted:
                row = results.samples.get((suite.name, config, metric, mode))
                if not row or not row["samples"] or min(row["samples"]) <= 0:
                    problems.append(f"no {metric} {mode} numbers")
            out[(suite.name, config)] = problems
    return out


def _has_big(suite):
    c = suite.content.layers[0] if suite.kind == "merge" else suite.content
    return bool(c.big_files)


# ---------------------------------------------------------------------------------------------
# Targets (docs/performance.md, "Method")


def _targets(results, stats):
    def get(suite, config, metric, mode):
        return stats.get((suite, config, metric, mode))

    rows = []

    def target(what, limit, suite, metric, mode, base, peer_note=True):
        w = get(suite, "webcfs", metric, mode)
        b = get(suite, base, metric, mode)
        r = ratio(w, b)
        peers = []
        if peer_note:
            for p in ("sqll-gz", "sqll"):
                pr = ratio(get(suite, p, metric, mode), b)
                if pr is not None:
                    peers.append(f"{p} ×{pr:.2f}")
        rows.append((what, f"≤ ×{limit} vs {base}", _verdict(r, limit), ", ".join(peers)))

    target("stat all, cold", 1.5, "gen", "stat", "cold", "ksq")
    target("`ls -lR`, warm", 1.3, "gen", "ls", "warm", "ksq")
    target("cat small files, warm", 1.2, "gen", "cat", "warm", "ksq")
    target("tar, cold", 1.0, "gen", "tar", "cold", "ksq")
    target("tar, cold (vs kernel EROFS)", 1.5, "gen", "tar", "cold", "kerofs")
    target("tar, warm", 1.1, "gen", "tar", "warm", "ksq")
    for mode in ("cold", "warm"):
        w, b = get("gen", "webcfs", "seq", mode), get("gen", "kerofs", "seq", mode)
        r = None if w is None or b is None else w.median / b.median
        rows.append((f"seq read 1 MiB, {mode}", "≥ 0.9× kernel EROFS throughput",
                     _verdict(r, 0.9, higher=True, unit="× throughput"), ""))
    target("100k files `ls -lR`, warm", 1.5, "tiny", "ls", "warm", "ksq")
    # Merged view: beat fuse-overlayfs everywhere; within 1.3 of kernel overlayfs warm.
    merge_keys = sorted({(m, mo) for (s, c, m, mo) in stats if s == "merge"
                         and m in wl.ALL})
    if merge_keys:
        worst_f, worst_k, lost, slow = None, None, [], []
        for m, mo in merge_keys:
            rf = ratio(get("merge", "webcfs", m, mo), get("merge", "fovl", m, mo))
            if rf is not None:
                worst_f = rf if worst_f is None else max(worst_f, rf)
                if rf >= 1.0:
                    lost.append(f"{m} {mo} ×{rf:.2f}")
            if mo == "warm":
                rk = ratio(get("merge", "webcfs", m, mo), get("merge", "kovl", m, mo))
                if rk is not None:
                    worst_k = rk if worst_k is None else max(worst_k, rk)
                    if rk > 1.3:
                        slow.append(f"{m} ×{rk:.2f}")
        rows.append(("merged view: every workload vs fuse-overlayfs", "< ×1.0 vs fovl (all)",
                     _verdict(worst_f, 1.0, strict=True, prefix="worst ")
                     + (f": lost {', '.join(lost)}" if lost else ""), ""))
        rows.append(("merged view: warm vs kernel overlayfs", "≤ ×1.3 vs kovl (all warm)",
                     _verdict(worst_k, 1.3, prefix="worst ")
                     + (f": {', '.join(slow)}" if slow else ""), ""))
    for peer in ("sqll", "sqll-gz"):
        w, b = get("tiny", "webcfs", "mount", "warm"), get("tiny", peer, "mount", "warm")
        r = None if w is None or b is None else w.median / b.median
        rows.append((f"mount time, 100k entries (vs {peer})", "≤ 1.5× squashfuse_ll",
                     _verdict(r, 1.5, unit="×"), ""))
    for suite, info in sorted(results.suites.items()):
        h = get(suite, "webcfs", "hwm", "warm")
        entries = info["stats"]["entries"]
        if h is None:
            continue
        limit = 2 * MB + 100 * entries
        got = h.median * 1024
        verdict = ("met" if got <= limit else "**not met**")
        sq = get(suite, "sqll", "hwm", "warm")
        rows.append((f"daemon RSS, {suite} ({entries} entries)",
                     f"≤ {limit / MB:.2f} MB", f"{verdict}: {got / MB:.2f} MB",
                     f"sqll {sq.median * 1024 / MB:.2f} MB" if sq else ""))
    return rows


def _verdict(r, limit, higher=False, strict=False, unit="×", prefix=""):
    if r is None:
        return "no data"
    if higher:
        ok = r >= limit
    else:
        ok = r < limit if strict else r <= limit
    shown = f"{r:.2f}{unit}" if unit.startswith("×") and higher else f"{unit}{r:.2f}"
    return ("met" if ok else "**not met**") + f" ({prefix}{shown})"


# ---------------------------------------------------------------------------------------------
# Markdown


def _markdown(meta, results, stats, plots):
    m = meta["machine"]
    lines = [
        "# webcfs benchmark results", "",
        f"Generated by `{meta['command']}` on {meta['started']} ({meta['duration_s']} s)"
        + (" — **quick mode: tiny content, one repetition; numbers are not meaningful**"
           if meta["quick"] else "")
        + (" — **partial: the run is still going or was interrupted**"
           if meta.get("partial") else "") + ".", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}, kernel "
        f"{m['kernel']}; libfuse {m['libfuse']}, squashfuse {m['squashfuse']}, fuse-overlayfs "
        f"{m['fuse-overlayfs']}, squashfs-tools {m['squashfs-tools']}, erofs-utils "
        f"{m['erofs-utils']}, fio {m['fio']}; webcfs {m['webcfs_commit']}.", "",
        "Method (docs/performance.md, \"Method\"): each configuration is mounted alone and its tree compared "
        "with the source (names, types, sizes, sha256 of every file) before anything is timed. "
        "**Cold** = unmount, `sync`, drop caches, remount before every sample; **warm** = one "
        "fresh mount, one unrecorded warmup run, then the samples. Cells: median [min–max] "
        f"over {meta['reps']['cold']} cold / {meta['reps']['warm']} warm samples "
        f"({meta['reps']['passes']} pass(es)), and (×ratio) = slowdown relative to the suite's "
        "baseline (kernel squashfs for single trees, kernel overlayfs for the merge); for MiB/s "
        "and IOPS the ratio is baseline throughput ÷ throughput, so >1 is slower everywhere. "
        "Mount time = from the mount command to the first answered stat of the mountpoint "
        "(webcfs: resolution included). VmHWM = the daemon's peak RSS after the warm runs.", "",
    ]
    lines += ["## Targets", "",
              "| workload | target | webcfs | peers, same run |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _targets(results, stats)]
    lines += ["", "## Correctness (mounted tree vs source)", "",
              "| suite | config | entries | compared | result |", "|---|---|---|---|---|"]
    for (suite, config), c in sorted(results.checks.items()):
        compared = "names, types, sizes" + (", sha256" if c["contents_compared"] else "")
        lines.append(f"| {suite} | {config} | {c['entries']} | {compared} | "
                     f"{'equal' if c['ok'] else 'DIFFERS: ' + '; '.join(c['diffs'])} |")
    for suite, info in results.suites.items():
        if info["kind"] == "scale":
            continue
        lines += _suite_table(suite, info, stats)
        if f"ratios_{suite}.png" in plots:
            lines += ["", f"![ratios {suite}](results/ratios_{suite}.png)"]
        lines += _census_table(suite, info, results.census)
    scale = [(s, i) for s, i in results.suites.items() if i["kind"] == "scale"]
    if scale:
        lines += _scaling_table(scale, stats, plots)
    if results.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results.notes]
    if results.errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {e['suite']} / {e['config']}: {e['error']}" for e in results.errors]
    lines += ["", "Raw samples: `results/results.json`, `results/results.csv`.", ""]
    lines += OTHER_BENCHMARKS
    return "\n".join(lines)


# The benchmarks run.sh does not run; each writes its own results file.
OTHER_BENCHMARKS = [
    "## Other benchmarks (not run by run.sh)", "",
    "- Remote registries (Wasmer API, static mirror): `bench/remote.py`, "
    "figures in `results/remote.md`.",
    "- Lazy remote mounts: `bench/lazy.py`, figures in `results/lazy.md`.",
    "- OCI fleet (three nodes, pull-through cache, 30 nodes): `bench/oci_fleet.py`, "
    "figures in `results/oci_fleet.md`.",
    "- Catalog mount: `bench/catalog.py`, figures in `results/catalog.md`.",
    "",
]


def _suite_table(suite, info, stats):
    st = info["stats"]
    base = "kovl" if info["kind"] == "merge" else "ksq"
    extra = {"merge": ("fovl", "webcfs ÷ fuse-overlayfs"),
             "single": ("kerofs", "webcfs ÷ kernel EROFS")}[info["kind"]]
    configs = info["configs"]
    lines = ["", f"## {suite}: {info['title']}", "",
             f"{st['files']} files, {st['dirs']} directories, {st['bytes'] / MB:.1f} MB. "
             "Images: " + ", ".join(f"{k} {v / MB:.1f} MB" for k, v in
                                    sorted(info["images"].items())) + ".", "",
             "| workload | " + " | ".join(cfgs.LABELS.get(c, c) for c in configs)
             + f" | {extra[1]} |",
             "|---" * (len(configs) + 2) + "|"]
    metrics = [("mount", "warm"), ("mount", "cold")]
    for name in info["workloads"]:
        metrics += [(name, "cold"), (name, "warm")]
    metrics += [("hwm", "warm"), ("anon", "warm"), ("file", "warm")]
    for metric, mode in metrics:
        if not any((suite, c, metric, mode) in stats for c in configs):
            continue
        unit = next(stats[(suite, c, metric, mode)].unit for c in configs
                    if (suite, c, metric, mode) in stats)
        title = f"{METRIC_TITLES.get(metric, metric)}, {mode} ({unit})"
        memory = metric in MEMORY_TITLES
        if memory:
            title = MEMORY_TITLES[metric]
        b = stats.get((suite, base, metric, mode))
        cells = [_cell(stats.get((suite, c, metric, mode)), b, not memory)
                 for c in configs]
        r = ratio(stats.get((suite, "webcfs", metric, mode)),
                  stats.get((suite, extra[0], metric, mode)))
        title = title.replace("|", "\\|")  # "tar | cat" inside a table cell
        lines.append(f"| {title} | " + " | ".join(cells)
                     + f" | {'×%.2f' % r if r is not None else '–'} |")
    return lines


def _census_table(suite, info, census):
    configs = [c for c in info["configs"] if c in cfgs.FUSE_CONFIGS
               and any(k.startswith(f"{suite}/{c}/") for k in census)]
    if not configs:
        return []
    lines = ["", f"FUSE requests per run ({suite}; one extra untimed run each): total, the "
             "daemon's CPU time, and the most frequent opcodes.", "",
             "| workload | " + " | ".join(cfgs.LABELS.get(c, c) for c in configs) + " |",
             "|---" * (len(configs) + 1) + "|"]
    for name in info["workloads"]:
        for mode in ("cold", "warm"):
            cells = []
            for c in configs:
                got = census.get(f"{suite}/{c}/{name}/{mode}")
                if got is None:
                    cells.append("–")
                    continue
                top = ", ".join(f"{op} {n:.0f}" for op, n in list(got["requests"].items())[:3])
                cells.append(f"{got['total']:.0f} req, {got['daemon_cpu_s'] * 1000:.0f} ms CPU"
                             + (f": {top}" if top else ""))
            title = f"{METRIC_TITLES.get(name, name)}, {mode}".replace("|", "\\|")
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def _scaling_table(scale, stats, plots):
    lines = ["", "## Scaling with the number of entries", "",
             "Tiny files (0–1 KiB) in directories of 100. Mount times in ms (median "
             "[min–max]); VmHWM after the mount and after a `find -printf %s` walk of every "
             "entry (cold); the RSS target is 2 MB + 100 bytes per entry.", "",
             "| entries | config | mount warm ms | mount cold ms | walk cold s | "
             "VmHWM mounted | VmHWM after walk | target |", "|---|---|---|---|---|---|---|---|"]
    for suite, info in sorted(scale, key=lambda x: x[1]["stats"]["entries"]):
        n = info["stats"]["entries"]
        for c in info["configs"]:
            g = lambda m, mo: stats.get((suite, c, m, mo))  # noqa: E731
            tgt = f"{(2 * MB + 100 * n) / MB:.1f} MB" if c == "webcfs" else ""
            lines.append(f"| {n} | {c} | {_cell(g('mount', 'warm'), None)} | "
                         f"{_cell(g('mount', 'cold'), None)} | {_cell(g('walk', 'cold'), None)}"
                         f" | {_cell(g('hwm-mounted', 'cold'), None)} | "
                         f"{_cell(g('hwm', 'warm'), None)} | {tgt} |")
    lines.append("")
    lines += [f"![{p}](results/{p})" for p in plots if p.startswith("scaling")]
    return lines


# ---------------------------------------------------------------------------------------------
# Plots (gnuplot, pngcairo)


def _plots(res_dir, results, stats):
    scale = sorted(((i["stats"]["entries"], s, i["configs"]) for s, i in results.suites.items()
                    if i["kind"] == "scale"))
    made = []
    for suite, info in results.suites.items():
        if info["kind"] != "scale" and _ratio_plot(res_dir, suite, info, stats):
            made.append(f"ratios_{suite}.png")
    if len(scale) >= 1:
        configs = []
        for _, _, cs in scale:
            configs += [c for c in cs if c not in configs]
        for fname, metric, mode, ylabel, div in (
                ("scaling_mount.png", "mount", "warm", "mount time (ms)", 1),
                ("scaling_rss.png", "hwm", "warm", "daemon VmHWM after walk (MB)", MB / 1024)):
            series = []
            for c in configs:
                pts = [(n, stats[(s, c, metric, mode)]) for n, s, _ in scale
                       if (s, c, metric, mode) in stats]
                if pts:
                    dat = os.path.join(res_dir, fname.replace(".png", f"-{c}.dat"))
                    with open(dat, "w") as f:
                        for n, st in pts:
                            f.write(f"{n} {st.median / div} {st.lo / div} {st.hi / div}\n")
                    series.append((c, dat))
            if not series:
                continue
            plot = [f"'{dat}' using 1:2:3:4 with yerrorlines title '{cfgs.LABELS.get(c, c)}'"
                    for c, dat in series]
            if metric == "hwm":
                plot.append("2 + x * 100 / 1e6 with lines dashtype 2 title 'target 2 MB + "
                            "100 B/entry'")
            _gnuplot(os.path.join(res_dir, fname), ylabel, plot)
            made.append(fname)
    return made


def _ratio_plot(res_dir, suite, info, stats):
    """Clustered bars: each configuration's slowdown vs the suite baseline, per workload."""
    base = "kovl" if info["kind"] == "merge" else "ksq"
    configs = [c for c in info["configs"] if c != base]
    rows = []
    for name in info["workloads"]:
        for mode in ("cold", "warm"):
            b = stats.get((suite, base, name, mode))
            rs = [ratio(stats.get((suite, c, name, mode)), b) for c in configs]
            if any(r is not None for r in rs):
                rows.append((f"{name} {mode}", rs))
    if not rows:
        return False
    dat = os.path.join(res_dir, f"ratios_{suite}.dat")
    with open(dat, "w") as f:
        f.write("workload " + " ".join(f'"{cfgs.LABELS.get(c, c)}"' for c in configs) + "\n")
        for label, rs in rows:
            f.write(f'"{label}" ' + " ".join("NaN" if r is None else f"{r:.4f}" for r in rs)
                    + "\n")
    script = "\n".join([
        "set terminal pngcairo size 1000,500 font ',10' noenhanced",
        f"set output '{os.path.join(res_dir, f'ratios_{suite}.png')}'",
        "set style data histograms", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set logscale y", "set grid ytics",
        "set key top left", "set xtics rotate by -30",
        f"set ylabel 'slowdown vs {cfgs.LABELS[base]} (log; 1 = same)'",
        f"set title '{suite}: {info['title']}'",
        "plot " + ", ".join(f"'{dat}' using {i + 2}:xtic(1) title columnheader({i + 2})"
                            for i in range(len(configs))) + ", 1 with lines lc 'black' notitle",
        ""])
    proc = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise system.BenchError(f"gnuplot: {proc.stderr.strip()}")
    return True


def _gnuplot(png, ylabel, plot):
    script = "\n".join([
        "set terminal pngcairo size 800,500 font ',10' noenhanced",
        f"set output '{png}'",
        "set logscale xy", "set grid", "set key top left",
        "set xlabel 'entries (files + directories)'",
        f"set ylabel '{ylabel}'",
        "plot " + ", \\\n  ".join(plot), ""])
    proc = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise system.BenchError(f"gnuplot: {proc.stderr.strip()}")


# ---------------------------------------------------------------------------------------------
# Profiles (bench.py --profile)


def write_profiles(out, meta, results):
    os.makedirs(out, exist_ok=True)
    system.write_json(os.path.join(out, "profiles.json"),
                      {"meta": meta, "profiles": results.profiles, "errors": results.errors})
    groups = {}
    for key, entry in sorted(results.profiles.items()):
        suite, workload, mode, config = key.split("/")
        groups.setdefault((suite, workload, mode), {})[config] = entry
    m = meta["machine"]
    lines = ["# webcfs profiles", "",
             f"Generated by `{meta['command']}` on {meta['started']}; kernel {m['kernel']}, "
             f"libfuse {m['libfuse']}, webcfs {m['webcfs_commit']}.", "",
             "Census: FUSE requests the kernel sent per workload run (tracepoint "
             "`fuse:fuse_request_send` on this mount's connection), the daemon's CPU time "
             "(user + system, all threads) and context switches per run, and the run's wall "
             "time (under tracing: slower than the timed runs).", ""]
    for (suite, workload, mode), configs in groups.items():
        names = list(configs)
        lines += [f"## {suite}: {METRIC_TITLES.get(workload, workload)}, {mode}", "",
                  "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        census = {c: configs[c].get("census") for c in names}
        ops = []
        for c in names:
            for op in (census[c] or {}).get("requests", {}):
                if op not in ops:
                    ops.append(op)
        for op in ops:
            lines.append(f"| {op} | " + " | ".join(
                f"{census[c]['requests'].get(op, 0):.0f}" if census[c] else "–" for c in names)
                + " |")
        for label, key, fmt in (("**total requests**", "total", "{:.0f}"),
                                ("daemon CPU s", "daemon_cpu_s", "{:.3f}"),
                                ("daemon context switches", "daemon_ctxsw", "{:.0f}"),
                                ("wall s", "wall_s", "{:.3f}")):
            lines.append(f"| {label} | " + " | ".join(
                fmt.format(census[c][key]) if census[c] else "–" for c in names) + " |")
        for c in names:
            for tool in ("perf", "callgrind"):
                if tool in configs[c]:
                    lines.append(f"\n{c} {tool}: [`{configs[c][tool]}`]({configs[c][tool]})")
        lines.append("")
    if results.errors:
        lines += ["## Errors", ""] + [f"- {e['suite']} / {e['config']}: {e['error']}"
                                      for e in results.errors]
    with open(os.path.join(out, "PROFILES.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
