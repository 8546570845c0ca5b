"""Benchmark content: deterministic generated trees, copies of real trees, merge layers.

Every content lives in WORKDIR/content/<key>/ laid out as a webcfs package directory:
    wasmer.toml    [fs] "/" = "tree"  (written by images.py when the package is packed)
    tree/          the source tree that every configuration serves
    manifest.json  the expected listing (path, type, size, sha256) that verify.py compares with
The key encodes the generation parameters, so a parameter change regenerates and identical
parameters (the 100k-file tree and the 100k scaling point) share one directory. Generation uses
random.Random(seed) only: the same flags give byte-identical trees on any machine.
WEBC volumes hold only directories and regular files, so contents contain nothing else.
"""
import hashlib
import os
import random
import shutil
import stat

from . import system

SEED = 20240505
KIB = 1024
MIB = 1024 * 1024

# docs/performance.md, "Method": the size mix of a python-stdlib-like tree.
SIZE_MIX = [(0.55, 0, 4 * KIB), (0.35, 4 * KIB, 32 * KIB), (0.08, 32 * KIB, 256 * KIB),
            (0.02, 256 * KIB, 1 * MIB)]
# Extension -> "text", "binary" or "mixed" (.so/.pyc: half random, half text).
EXTENSIONS = [(".py", "text", 0.40), (".pyc", "mixed", 0.20), (".so", "mixed", 0.05),
              (".txt", "text", 0.10), (".h", "text", 0.10), (".json", "text", 0.10),
              (".dat", "binary", 0.05)]


class Content:
    """One tree ready to be imaged: where it is and what a correct mount of it must show."""

    def __init__(self, key, label, root, params):
        self.key = key            # directory name, unique per parameter set
        self.label = label        # human name used in reports ("gen10k", "tiny100k", ...)
        self.root = root          # package directory (tree/ and wasmer.toml inside)
        self.params = params
        self.big_files = []       # relative paths of the large files for fio
        self.big_size = 0
        self.same_tree_as = None  # another Content with a byte-identical tree (shares images)

    @property
    def tree(self):
        return os.path.join(self.root, "tree")

    def manifest(self):
        """{relpath: (type, size, sha256-or-None)} of the expected mounted tree."""
        data = system.read_json(os.path.join(self.root, "manifest.json"))
        return {p: tuple(v) for p, v in data["entries"].items()}

    def stats(self):
        data = system.read_json(os.path.join(self.root, "manifest.json"))
        return data["stats"]


# ---------------------------------------------------------------------------------------------
# Manifests


def scan_tree(root, hashes=True):
    """Walks a directory tree; returns {relpath: (type, size, sha256)} with '/' separators."""
    entries = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                path = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    entries[path] = ("d", 0, None)
                    stack.append(path)
                elif stat.S_ISREG(st.st_mode):
                    entries[path] = ("f", st.st_size, _sha256(e.path) if hashes else None)
                else:
                    entries[path] = ("other", st.st_size, None)
    return entries


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def _stats(entries):
    files = sum(1 for t, _, _ in entries.values() if t == "f")
    dirs = sum(1 for t, _, _ in entries.values() if t == "d")
    return {"files": files, "dirs": dirs, "entries": files + dirs + 1,  # + the root
            "bytes": sum(s for t, s, _ in entries.values() if t == "f")}


def _write_manifest(c, entries):
    system.write_json(os.path.join(c.root, "manifest.json"),
                      {"stats": _stats(entries), "entries": entries})


def _prepare(workdir, key, label, params, build, hashes=True):
    """Builds the content unless a complete one with the same parameters is already there."""
    root = os.path.join(workdir, "content", key)
    c = Content(key, label, root, params)
    stamp_path = os.path.join(root, "stamp.json")
    if system.read_json(stamp_path) == params and os.path.exists(
            os.path.join(root, "manifest.json")):
        return c
    system.log(f"generating content {label} ({key})")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(c.tree)
    build(c)
    _write_manifest(c, scan_tree(c.tree, hashes=hashes))
    system.write_json(stamp_path, params)
    return c


# ---------------------------------------------------------------------------------------------
# Generators


class _Text:
    """A fixed pool of word-like text; text files are slices of it (compressible like code)."""

    def __init__(self, rng, size=4 * MIB):
        syll = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "de", "fu", "import", "def",
                "self", "return", "(", ")", ":", "=", "if", "for", "in", "0", "1", "x", "_"]
        words = ["".join(rng.choices(syll, k=rng.randint(1, 4))) for _ in range(3000)]
        out, total = [], 0
        while total < size:
            line = " ".join(rng.choices(words, k=rng.randint(1, 12))) + "\n"
            if rng.random() < 0.3:
                line = "    " + line
            out.append(line)
            total += len(line)
        self.pool = "".join(out).encode()[:size]

    def take(self, rng, n):
        start = rng.randint(0, len(self.pool) - n)
        return self.pool[start:start + n]


def _name(rng, taken):
    letters = "abcdefghijklmnopqrstuvwxyz"
    while True:
        name = "".join(rng.choices(letters, k=rng.randint(3, 10)))
        if rng.random() < 0.3:
            name += "_" + "".join(rng.choices(letters + "0123456789", k=rng.randint(2, 6)))
        if name not in taken:
            taken.add(name)
            return name


def _content(rng, text, kind, size):
    if kind == "mixed":
        kind = "binary" if rng.random() < 0.5 else "text"
    return rng.randbytes(size) if kind == "binary" else text.take(rng, size)


def _pick_size(rng):
    r = rng.random()
    for share, lo, hi in SIZE_MIX:
        if r < share:
            return rng.randint(lo, hi)
        r -= share
    return rng.randint(SIZE_MIX[-1][1], SIZE_MIX[-1][2])


def gen_tree(workdir, files, dirs, big_files, big_size, label):
    """(b) A python-stdlib-like tree: `files` files in `dirs` dirs (depth <= 4) + big files."""
    params = {"kind": "gen", "files": files, "dirs": dirs, "big": big_files,
              "big_size": big_size, "seed": SEED}

    def build(c):
        rng = random.Random(SEED)
        text = _Text(rng)
        all_dirs = [("", 0)]
        names = {"": set()}
        for _ in range(dirs - 1):
            parent, depth = rng.choice([d for d in all_dirs if d[1] < 4])
            rel = f"{parent}/{_name(rng, names[parent])}" if parent else _name(rng, names[parent])
            os.mkdir(os.path.join(c.tree, rel))
            all_dirs.append((rel, depth + 1))
            names[rel] = set()
        ext_weights = [w for _, _, w in EXTENSIONS]
        for _ in range(files):
            parent, _ = rng.choice(all_dirs)
            ext, kind, _ = rng.choices(EXTENSIONS, weights=ext_weights)[0]
            name = _name(rng, names[parent]) + ext
            with open(os.path.join(c.tree, parent, name), "wb") as f:
                f.write(_content(rng, text, kind, _pick_size(rng)))
        for i in range(big_files):  # alternating random and text MiB
            with open(os.path.join(c.tree, f"big{i + 1}.bin"), "wb") as f:
                for m in range(big_size // MIB):
                    f.write(rng.randbytes(MIB) if m % 2 == 0 else text.take(rng, MIB))

    c = _prepare(workdir, f"gen-{files}-{dirs}-{big_files}x{big_size // MIB}M", label, params,
                 build)
    c.big_files = [f"big{i + 1}.bin" for i in range(big_files)]
    c.big_size = big_size
    return c


def tiny_tree(workdir, files, dirs, label, max_size=1024, hashes=True):
    """(c) `files` files of 0..max_size bytes spread evenly over `dirs` directories."""
    params = {"kind": "tiny", "files": files, "dirs": dirs, "max_size": max_size, "seed": SEED}

    def build(c):
        rng = random.Random(SEED + 1)
        text = _Text(rng, size=64 * KIB)
        per_dir = -(-files // dirs)
        for i in range(files):
            d = os.path.join(c.tree, f"d{i // per_dir:05d}")
            if i % per_dir == 0:
                os.mkdir(d)
            fd = os.open(os.path.join(d, f"f{i:07d}.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, text.take(rng, rng.randint(0, max_size)))
            os.close(fd)

    return _prepare(workdir, f"tiny-{files}-{dirs}-{max_size}", label, params, build,
                    hashes=hashes)


def copy_tree(workdir, source, label, subdirs=None):
    """(a) A copy of a real tree (regular files and directories only: WEBC has nothing else)."""
    src_stats = _source_fingerprint(source, subdirs)
    params = {"kind": "copy", "source": source, "subdirs": subdirs, "fingerprint": src_stats}

    def build(c):
        tops = subdirs or [""]
        for top in tops:
            src_top = os.path.join(source, top) if top else source
            for dirpath, dirnames, filenames in os.walk(src_top):
                rel = os.path.relpath(dirpath, source)
                dst_dir = c.tree if rel == "." else os.path.join(c.tree, rel)
                os.makedirs(dst_dir, exist_ok=True)
                dirnames[:] = [d for d in dirnames
                               if not os.path.islink(os.path.join(dirpath, d))]
                for name in filenames:
                    src = os.path.join(dirpath, name)
                    if os.path.islink(src) or not os.path.isfile(src):
                        continue
                    shutil.copyfile(src, os.path.join(dst_dir, name))

    key = "copy-" + source.strip("/").replace("/", "_") + ("-" + "_".join(subdirs)
                                                           if subdirs else "")
    return _prepare(workdir, key, label, params, build)


def _source_fingerprint(source, subdirs):
    files = total = 0
    for top in subdirs or [""]:
        for dirpath, dirnames, filenames in os.walk(os.path.join(source, top)):
            for name in filenames:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p) and os.path.isfile(p):
                    files += 1
                    total += os.path.getsize(p)
    if files == 0:
        raise system.BenchError(f"{source}: no files to copy (is the package installed?)")
    return [files, total]


# ---------------------------------------------------------------------------------------------
# (d) Merge layers


class MergeSet:
    """Three packages at one mount point: layers[0] is the base (lowest precedence)."""

    def __init__(self, layers, expected):
        self.layers = layers
        self._expected = expected

    def manifest(self):
        return self._expected

    def stats(self):
        return _stats(self._expected)


def merge_layers(workdir, base, shadow, add, label):
    """Builds l1 (hard links of `base`), l2 and l3 over it; returns a MergeSet.

    l2 shadows `shadow` small files of l1 and adds `add` new files in l1's directories;
    l3 shadows `shadow` files (half from l1, half from l2) and adds `add` more plus a new
    directory. No name changes type between layers, so overlayfs, fuse-overlayfs and webcfs
    must all agree on the merged view computed here (upper layer wins per path).
    """
    base_entries = base.manifest()
    params = {"kind": "merge", "base": base.key, "shadow": shadow, "add": add, "seed": SEED}

    def build_l1(c):
        os.rmdir(c.tree)
        shutil.copytree(base.tree, c.tree, copy_function=os.link)

    l1 = _prepare(workdir, f"merge-l1-{base.key}", label + "-l1", params, build_l1)
    l1.same_tree_as = base  # identical bytes: its kernel images are the base's
    l1.big_files, l1.big_size = base.big_files, base.big_size
    small = sorted(p for p, (t, s, _) in base_entries.items() if t == "f" and s < MIB)
    dirs = [""] + sorted(p for p, (t, _, _) in base_entries.items() if t == "d")
    rng = random.Random(SEED + 2)
    text = _Text(rng, size=256 * KIB)
    l2_shadow = rng.sample(small, min(shadow, len(small)))
    l2_add = [_join(rng.choice(dirs), f"l2_{j:04d}.txt") for j in range(add)]
    rest = sorted(set(small) - set(l2_shadow))
    l3_shadow = (rng.sample(rest, min(shadow // 2, len(rest)))
                 + rng.sample(l2_shadow + l2_add, shadow - shadow // 2))
    l3_add = ([_join(rng.choice(dirs), f"l3_{j:04d}.txt") for j in range(add)]
              + [f"l3_extra/e{j:02d}.txt" for j in range(10)])
    layers = [l1]
    for n, paths in ((2, l2_shadow + l2_add), (3, l3_shadow + l3_add)):
        def build(c, paths=paths, n=n):
            lrng = random.Random(SEED + 10 + n)
            for p in paths:
                full = os.path.join(c.tree, p)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(text.take(lrng, lrng.randint(0, 32 * KIB)))
        layers.append(_prepare(workdir, f"merge-l{n}-{base.key}-{shadow}-{add}",
                               f"{label}-l{n}", params, build))
    merged = {}
    for layer in layers:  # bottom-up: an upper layer replaces a lower entry of the same path
        merged.update(layer.manifest())
    return MergeSet(layers, merged)


def _join(parent, name):
    return f"{parent}/{name}" if parent else name
