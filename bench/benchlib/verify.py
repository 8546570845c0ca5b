"""Correctness before speed: a mounted tree must equal its source before it is timed."""
from . import content as content_mod


def compare(mountpoint, expected, hashes=True, limit=8):
    """Returns a list of human-readable differences (empty = equal).

    Compares names, types, sizes and (with hashes) the sha256 of every regular file; modes,
    owners and times are not compared (webcfs serves 0444/0555 by design).
    """
    return _diff(content_mod.scan_tree(mountpoint, hashes=hashes), expected, hashes, limit)


def _diff(actual, expected, hashes, limit):
    diffs = []
    for path in sorted(expected.keys() - actual.keys()):
        diffs.append(f"missing: {path}")
    for path in sorted(actual.keys() - expected.keys()):
        diffs.append(f"unexpected: {path}")
    for path in sorted(expected.keys() & actual.keys()):
        want, got = expected[path], actual[path]
        if want[0] != got[0]:
            diffs.append(f"type differs: {path}: {got[0]}, expected {want[0]}")
        elif want[0] == "f" and want[1] != got[1]:
            diffs.append(f"size differs: {path}: {got[1]}, expected {want[1]}")
        elif hashes and want[0] == "f" and want[2] != got[2]:
            diffs.append(f"content differs: {path}")
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more differences"]
    return diffs


def compare_listing(listing_path, expected, limit=8):
    """Like compare(), from `find -printf '%y %s %P\\n'` output (names, types, sizes)."""
    actual = {}
    with open(listing_path, "rb") as f:
        for raw in f:
            kind, size, path = raw.rstrip(b"\n").split(b" ", 2)
            t = {b"d": "d", b"f": "f"}.get(kind, "other")
            actual[path.decode("utf-8", "surrogateescape")] = (t, int(size) if t == "f" else 0,
                                                              None)
    return _diff(actual, expected, False, limit)
