#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test.
#   1. release build + the whole test suite (unit, integration mounts, conformance)
#   2. ASan+UBSan build + the whole test suite again
#   3. libFuzzer targets (clang) run briefly on their seed corpora
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== release build and tests"
scripts/build.sh release
ctest --test-dir build/release --output-on-failure -j"$(nproc)"

echo "== ASan+UBSan build and tests"
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$(nproc)"

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (short)"
  scripts/fuzz.sh "${WEBCFS_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"
