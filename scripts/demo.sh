#!/usr/bin/env bash
# The README's main job: install dependencies, build, mount the bundled example
# package (with its dependencies, from the example registry the build packs),
# look around with ordinary tools, and unmount.
#   scripts/demo.sh                 mounts under a fresh /tmp/webcfs-demo.XXXXXX
#   WEBCFS_DEMO_PACKAGE=ns/name@1 scripts/demo.sh   mounts another example package
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release >/dev/null

bin=build/release/daemon/webcfs
registry=build/release/examples/registry
package=${WEBCFS_DEMO_PACKAGE:-webcfs/demo}
mnt=$(mktemp -d /tmp/webcfs-demo.XXXXXX)
cleanup() {
  if grep -q " $mnt fuse.webcfs " /proc/self/mountinfo 2>/dev/null; then
    "$bin" unmount "$mnt" || fusermount3 -uz "$mnt" || true
  fi
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT

echo "== example registry: $registry"
ls "$registry"
echo
echo "== webcfs mount $package $mnt --registry $registry"
"$bin" mount "$package" "$mnt" --registry "$registry"
echo
echo "== find (the merged tree; .webc is the control directory)"
(cd "$mnt" && find . | sort)
echo
echo "== ls -lR"
ls -lR "$mnt"
first=$(find "$mnt" -path "$mnt/.webc" -prune -o -type f -print | sort | head -n 1)
if [[ -n "$first" ]]; then
  echo
  echo "== cat ${first#"$mnt"/}"
  cat "$first"
fi
echo
echo "== head .webc/resolution.json"
head -n 25 "$mnt/.webc/resolution.json"
echo
echo "== webcfs unmount $mnt"
"$bin" unmount "$mnt"
echo "unmounted"
