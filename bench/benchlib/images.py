"""Images of a content for every configuration: squashfs (uncompressed and gzip), EROFS, WEBC.

Images are cached next to the content under WORKDIR/images/<key>/ with a stamp recording what
made them (content parameters, tool version, webcfs binary hash), so a second run only rebuilds
what changed.
"""
import hashlib
import os
import re

from . import system

VERSION = "1.0.0"
NAMESPACE = "bench"


def _stamped(path, stamp, build, writes_atomically=False):
    stamp_path = path + ".stamp.json"
    if os.path.exists(path) and system.read_json(stamp_path) == stamp:
        return path
    if os.path.exists(path):
        os.unlink(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    system.log(f"building {os.path.relpath(path, os.path.dirname(os.path.dirname(path)))}")
    if writes_atomically:  # webcfs pack renames a temp file itself
        build(path)
    else:
        build(path + ".tmp")
        os.replace(path + ".tmp", path)
    system.write_json(stamp_path, stamp)
    return path


def _image_dir(workdir, content):
    return os.path.join(workdir, "images", content.key)


def squashfs(workdir, content, compressed):
    """mksquashfs image; uncompressed = -noD -noI -noF -noX (the fair peer for WEBC bytes)."""
    if content.same_tree_as is not None:
        return squashfs(workdir, content.same_tree_as, compressed)
    flags = [] if compressed else ["-noD", "-noI", "-noF", "-noX"]
    path = os.path.join(_image_dir(workdir, content), "gzip.sqfs" if compressed else "raw.sqfs")
    stamp = {"content": content.params, "flags": flags,
             "tool": system.deb_version("squashfs-tools")}
    return _stamped(path, stamp, lambda out: system.run(
        ["mksquashfs", content.tree, out, "-noappend", "-processors", str(os.cpu_count()),
         "-quiet", "-no-progress"] + flags))


def erofs(workdir, content):
    """Uncompressed EROFS image (mkfs.erofs default without -z)."""
    if content.same_tree_as is not None:
        return erofs(workdir, content.same_tree_as)
    path = os.path.join(_image_dir(workdir, content), "raw.erofs")
    stamp = {"content": content.params, "tool": system.deb_version("erofs-utils")}
    return _stamped(path, stamp,
                    lambda out: system.run(["mkfs.erofs", "--quiet", out, content.tree]))


def package_name(content):
    return re.sub(r"[^a-z0-9-]+", "-", content.key.lower()).strip("-")


def package_spec(content):
    return f"{NAMESPACE}/{package_name(content)}@{VERSION}"


def webc(workdir, content, registry, webcfs_bin, depends_on=None):
    """Packs the content's directory with `webcfs pack` into REGISTRY/ns--name@ver.webc.

    The package's wasmer.toml maps the guest root "/" to tree/; `depends_on` (another Content)
    becomes a [dependencies] entry, which is how the merge's precedence chain is built.
    """
    toml = ("[package]\n"
            f'name = "{NAMESPACE}/{package_name(content)}"\n'
            f'version = "{VERSION}"\n'
            'description = "webcfs benchmark content"\n\n'
            '[fs]\n"/" = "tree"\n')
    if depends_on is not None:
        toml += f'\n[dependencies]\n"{NAMESPACE}/{package_name(depends_on)}" = "={VERSION}"\n'
    with open(os.path.join(content.root, "wasmer.toml"), "w") as f:
        f.write(toml)
    path = os.path.join(registry, f"{NAMESPACE}--{package_name(content)}@{VERSION}.webc")
    stamp = {"content": content.params, "toml": toml, "webcfs": _file_sha256(webcfs_bin)}
    return _stamped(path, stamp, lambda out: system.run(
        [webcfs_bin, "pack", content.root, "-o", out]), writes_atomically=True)


def _file_sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            h.update(f.read())
    except OSError as e:
        raise system.BenchError(f"{path}: {e.strerror} (build webcfs first)") from None
    return h.hexdigest()


def size_of(path):
    return os.path.getsize(path)
