#!/usr/bin/env python3
"""Regenerates daemon/link-order.txt: the code a mount runs, in the order the linker should lay it out.

    scripts/link-order.py [--build build/release] [--out daemon/link-order.txt]

Why: the daemon's resident memory and its start-up are dominated by page faults
on its own code (docs/performance.md, "Code layout"). The kernel maps code 64 KiB around
each fault, so functions that run together should sit together. This script
runs a real mount of the example package under callgrind (valgrind, which
scripts/setup.sh installs), walks it with ordinary tools, unmounts,
and lists where every function that ran lives: its own input section
(-ffunction-sections) or, for glibc, its archive member. First those the
serving daemon ran after the fork, then those only the mount command ran
before it. daemon/CMakeLists.txt turns the list into a linker-script
fragment.

Needs a WEBCFS_STATIC_RUNTIME build (the default release build) and root (the
mount). A stale list is harmless, only less effective: names that no longer
exist are ignored by the linker; tests/unit/daemon/link_order_test.cc fails
once too many of them are gone.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# The serving daemon's entry point (daemon/serve.cc), as callgrind sees
# it with --demangle=no: counts before it are the start-up's, after it serving's.
SERVE_PATTERN = "_ZN6webcfs6daemon*5Serve*"
DEMO_PACKAGE = "webcfs/demo"


def fail(message):
    sys.exit(f"link-order: {message}")


def run_mount_under_callgrind(binary, registry, work):
    mountpoint = os.path.join(work, "mnt")
    os.mkdir(mountpoint)
    mount = [binary, "mount", DEMO_PACKAGE, mountpoint, "--registry", registry,
             "--cache", os.path.join(work, "cache")]
    # Mount once first, unprofiled: what is profiled is then the usual mount,
    # of packages already in the cache and already accepted once (their
    # directories are read lazily, resolver/cache.h).
    subprocess.run(mount, check=True)
    subprocess.run([binary, "unmount", mountpoint], check=True)
    log = open(os.path.join(work, "valgrind.log"), "w")
    command = ["valgrind", "--tool=callgrind", "--sim-hints=fuse-compatible", "--demangle=no",
               f"--callgrind-out-file={work}/cg.%p", f"--dump-before={SERVE_PATTERN}"] + mount
    # The mount command returns once the forked daemon answers; the daemon keeps
    # valgrind's output file descriptors, so they go to a file, not a pipe.
    if subprocess.run(command, stdout=log, stderr=log).returncode != 0:
        fail(f"the mount under callgrind failed; see {log.name}")
    return mountpoint


def exercise(binary, mountpoint):
    """What users do with a mount: stat and list everything, read every file."""
    for root, dirs, files in os.walk(mountpoint):
        for name in dirs + files:
            os.lstat(os.path.join(root, name))
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass
    for command in (["ls", "-lR", mountpoint], ["df", mountpoint], [binary, "status", mountpoint]):
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    subprocess.run([binary, "unmount", mountpoint], check=True)


def profiles(work):
    """(start-up profile, serving profile): the parent's, and the child's after SERVE_PATTERN."""
    deadline = time.monotonic() + 120
    while True:
        names = os.listdir(work)
        dumped = [n for n in names if re.fullmatch(r"cg\.\d+\.1", n)]  # the child's pre-serve dump
        child = dumped[0][:-2] if dumped else None
        parents = [n for n in names if re.fullmatch(r"cg\.\d+", n) and n != child]
        # The child writes its final profile as it exits, after the unmount.
        child_exited = child and not os.path.exists(f"/proc/{child.split('.')[1]}")
        if child_exited and child in names and parents:
            return os.path.join(work, parents[0]), os.path.join(work, child)
        if time.monotonic() > deadline:
            fail(f"no complete callgrind profiles in {work}: {sorted(names)} (no dump at "
                 f"{SERVE_PATTERN}: was the daemon's Serve renamed?)")
        time.sleep(0.5)


def functions_run(profile, objects_of_interest):
    """Names of the functions that ran in any of `objects_of_interest` (paths)."""
    names, objects, functions = {}, {}, set()
    in_objects = False
    for line in open(profile, errors="replace"):
        key, _, value = line.rstrip("\n").partition("=")
        if key not in ("ob", "cob", "fn", "cfn"):
            continue
        match = re.fullmatch(r"\((\d+)\)(?: (.*))?", value)
        ident, name = (match.group(1), match.group(2)) if match else (None, value)
        # Names are compressed: "(id) name" once, then "(id)"; ob/cob and fn/cfn
        # share their id spaces.
        table = objects if key in ("ob", "cob") else names
        if ident and name:
            table[ident] = name
        name = table.get(ident) if ident else name
        if key == "ob":
            in_objects = bool(name) and os.path.realpath(name) in objects_of_interest
        elif key == "fn" and in_objects:
            # Minus callgrind's recursion suffix and a shared library's symbol version.
            functions.add(re.sub(r"@.*$", "", re.sub(r"'\d+$", "", name)))
    return functions


def section_of_each_function(paths):
    """(placement, members): function symbol -> where the linker finds it, its own input
    section (".text.NAME", from -ffunction-sections) or, for code built without it (glibc),
    "ARCHIVE:MEMBER SECTION"; and "ARCHIVE:MEMBER" -> the code sections of each member."""
    placement, members = {}, {}
    for path in paths:
        listing = subprocess.run(["readelf", "-SsW", path], capture_output=True, text=True,
                                 check=True).stdout
        sections, member = {}, None
        for line in listing.splitlines():
            if line.startswith("File: "):
                sections = {}
                inside = re.fullmatch(r"File: .*/([^/(]+)\((.+)\)", line)
                member = f"{inside.group(1)}:{inside.group(2)}" if inside else None
            elif header := re.match(r"\s*\[\s*(\d+)\]\s+(\S+)\s", line):
                sections[int(header.group(1))] = header.group(2)
                if member and re.fullmatch(r"\.text(\..*)?", header.group(2)):
                    members.setdefault(member, []).append(header.group(2))
            elif (fields := line.split()) and len(fields) >= 8 and fields[0].endswith(":") \
                    and fields[3] in ("FUNC", "IFUNC") and fields[6].isdigit():
                symbol, section = fields[7], sections.get(int(fields[6]), "")
                if not (section == ".text" or section.startswith(".text.")):
                    continue
                if section.endswith("." + symbol):
                    placement.setdefault(symbol, section)
                elif member:
                    placement.setdefault(symbol, f"{member} {section}")
    return placement, members


def with_cpu_variants(entries, members):
    """`entries` plus every variant of the glibc string functions among them.

    glibc picks one implementation of memmove, strlen, ... per CPU at start-up
    (IFUNC): libc.a:memmove-avx-unaligned-erms.o on valgrind's simulated CPU, but
    memmove-avx512-unaligned-erms.o or memmove-evex-... on the machine that runs
    the daemon. Each variant is its own member, "FAMILY-VARIANT.o": list them all
    (about 80 KB for the families a mount uses) so that whichever runs is laid out
    with the rest."""
    result = set(entries)
    for entry in entries:
        member = entry.split(" ")[0]
        archive, _, name = member.partition(":")
        if archive != "libc.a" or "-" not in name:
            continue
        family = f"{archive}:{name.split('-')[0]}-"
        for sibling, sections in members.items():
            if sibling.startswith(family):
                result.update(f"{sibling} {section}" for section in sections)
    return result


def linked_inputs(build):
    """main.o and every archive the executable links (its link line, which lists
    libfuse3.a, libzstd.a and libcrypto.a by path), libstdc++.a and libc.a."""
    main_object = os.path.join(build, "daemon/CMakeFiles/webcfs.dir/main.cc.o")
    link_line = os.path.join(build, "daemon/CMakeFiles/webcfs.dir/link.txt")
    if not os.path.exists(main_object):
        fail(f"{main_object} not found: build {build} first (scripts/build.sh release)")
    archives = [os.path.normpath(os.path.join(build, "daemon", word))
                for word in open(link_line).read().split() if word.endswith(".a")]
    system = [subprocess.run(["c++", f"-print-file-name={name}"], capture_output=True,
                             text=True, check=True).stdout.strip()
              for name in ("libstdc++.a", "libc.a")]
    return [main_object] + archives + system


def link_profiling_twin(build, work):
    """The executable as a dynamic PIE with glibc shared: valgrind 3.19 aborts on the
    readlink("/proc/self/exe") of a static glibc's start-up when --sim-hints=fuse-compatible
    is given, and that hint is needed (see run_mount_under_callgrind). Same objects and
    archives otherwise, so the functions that run are the same but for glibc's static
    start-up; glibc's ones are found by name in libc.so.6."""
    directory = os.path.join(build, "daemon")
    words = open(os.path.join(directory, "CMakeFiles/webcfs.dir/link.txt")).read().split()
    twin = os.path.join(work, "webcfs")
    command, skip = [], False
    for word in words:
        if skip:
            word, skip = twin, False
        elif word == "-o":
            skip = True
        elif word == "-static-pie" or word.startswith("-Wl,-T,"):
            continue
        command.append(word)
    command[1:1] = ["-static-libstdc++", "-static-libgcc"]
    subprocess.run(command, cwd=directory, check=True, stderr=subprocess.DEVNULL)
    return twin


def shared_glibc(twin):
    """The glibc libraries the twin maps (libc.so.6, libm.so.6, ld.so), by real path."""
    listing = subprocess.run(["ldd", twin], capture_output=True, text=True, check=True).stdout
    glibc = r"(/\S+/(?:lib[cm]\.so\.6|ld-linux[^/ ]*\.so\.2))"
    return {os.path.realpath(m.group(1)) for m in re.finditer(glibc, listing)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build/release")
    parser.add_argument("--out", default="daemon/link-order.txt")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        fail("needs valgrind (apt-get install valgrind)")
    binary = os.path.realpath(os.path.join(args.build, "daemon/webcfs"))
    registry = os.path.join(args.build, "examples/registry")
    for path in (binary, registry):
        if not os.path.exists(path):
            fail(f"{path} not found: build {args.build} first (scripts/build.sh release)")
    section_of, members = section_of_each_function(linked_inputs(args.build))

    with tempfile.TemporaryDirectory(prefix="webcfs-link-order.") as work:
        twin = link_profiling_twin(args.build, work)
        objects = {os.path.realpath(twin)} | shared_glibc(twin)
        exercise(twin, run_mount_under_callgrind(twin, registry, work))
        startup_profile, serving_profile = profiles(work)
        serving = functions_run(serving_profile, objects)
        startup = functions_run(startup_profile, objects)

    # Sorted within each block: callgrind's output order is its hash order, not
    # the order of execution, and a sorted list regenerates without noise.
    lines, listed = [], set()
    for title, functions in (("serving: the daemon after the fork", serving),
                             ("start-up: the mount command before the fork", startup)):
        # Functions' own sections first, then whole archive members (glibc's
        # objects hold several functions each), so the first stay packed.
        entries = with_cpu_variants({section_of[f] for f in functions if f in section_of}, members)
        block = sorted(entries - listed,
                       key=lambda entry: (" " in entry, entry))
        listed.update(block)
        lines += [f"# {title}"] + block
    header = ["# Generated by scripts/link-order.py: where the functions a mount of",
              f"# {DEMO_PACKAGE} ran live, serving first. One per line: a function's own",
              "# section (.text.NAME), or ARCHIVE:MEMBER SECTION for code built without",
              "# -ffunction-sections (glibc). The linker lays them out in this order (a",
              "# linker-script fragment, daemon/CMakeLists.txt). Regenerate, do not edit."]
    with open(args.out, "w") as out:
        out.write("\n".join(header + lines) + "\n")
    print(f"link-order: {len(listed)} sections ({len(serving)} functions serving, "
          f"{len(startup)} start-up) -> {args.out}")


if __name__ == "__main__":
    main()
