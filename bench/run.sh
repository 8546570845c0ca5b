#!/usr/bin/env bash
# The whole benchmark in one command (bench/README.md):
#   bench/run.sh [--no-build] [bench.py flags...]     e.g. bench/run.sh, bench/run.sh --quick
# Installs the Debian packages it needs (scripts/setup.sh), builds the webcfs binary (release),
# then runs bench/bench.py: content, images, mounts, workloads, bench/RESULTS.md + results/.
# Needs root: loop devices, mounts, drop_caches.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
  echo "bench/run.sh: needs root (loop devices, mounts, drop_caches)" >&2
  exit 2
fi
build=1
args=()
for a in "$@"; do
  if [[ "$a" == --no-build ]]; then build=0; else args+=("$a"); fi
done
if ((build)); then
  scripts/setup.sh
  # The daemon as packaged: static, with its code laid out (WEBCFS_LINK_ORDER).
  cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEBCFS_LINK_ORDER=ON >/dev/null
  cmake --build build/bench --target webcfs -j"$(nproc)"
  args=(--webcfs build/bench/daemon/webcfs "${args[@]}")
fi
exec /usr/bin/python3 bench/bench.py "${args[@]}"
