#!/usr/bin/env bash
# Full stress run: 16 readers mixing lookups, stats, listings,
# whole-file reads verified against the stored SHA-256 and random partial reads
# over a package of 100,000 files, while the daemon reloads its snapshot every
# RELOAD_MS; prints ops/s and the daemon's RSS. The driver is the ctest
# StressTest (tests/integration/stress_test.cc), which runs a short version.
#   bench/stress.sh [SECONDS] [FILES]      (defaults: 60, 100000)
# Environment: READERS (16), RELOAD_MS (250), BUILD (build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build/release}
binary=$build/tests/integration/integration_tests
if [[ ! -x $binary || ! -x $build/daemon/webcfs ]]; then
  echo "build first: scripts/build.sh release webcfs integration_tests" >&2
  exit 1
fi
WEBCFS_STRESS_SECONDS=${1:-60} WEBCFS_STRESS_FILES=${2:-100000} \
  WEBCFS_STRESS_READERS=${READERS:-16} WEBCFS_STRESS_RELOAD_MS=${RELOAD_MS:-250} \
  "$binary" --gtest_filter='StressTest.*' --gtest_brief=1
