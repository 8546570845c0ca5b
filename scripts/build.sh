#!/usr/bin/env bash
# Configures and builds one configuration: scripts/build.sh [release|asan|fuzz] [TARGET...]
# Build trees live in build/<config>. With TARGETs only those are built (e.g. `fuzz fuzz_targets`).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-release}
shift || true
jobs=$(nproc)
case "$config" in
  release) cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ;;
  asan) cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DWEBCFS_SANITIZE=ON >/dev/null ;;
  fuzz) CC=clang CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DWEBCFS_FUZZ=ON -DWEBCFS_SANITIZE=ON -DBUILD_TESTING=OFF >/dev/null ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "build/$config" -j"$jobs" "${targets[@]}"
