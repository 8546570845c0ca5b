#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan; scripts/build.sh fuzz) and runs
# every build/fuzz/tests/fuzz/*_fuzz for SECONDS each on its seed corpus
# tests/fuzz/corpus/<name>/ (when present):  scripts/fuzz.sh [SECONDS]
# New interesting inputs go to a scratch directory, not into the repository; a
# crash leaves its input in build/fuzz/artifacts/ and makes the script fail
# (commit it to tests/fuzz/regressions/<name>/ with the fix).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}

scripts/build.sh fuzz fuzz_targets

mkdir -p build/fuzz/artifacts
status=0
shopt -s nullglob
targets=(build/fuzz/tests/fuzz/*_fuzz)
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets built" >&2
  exit 1
fi
for bin in "${targets[@]}"; do
  [[ -x "$bin" ]] || continue
  name=$(basename "$bin")
  scratch=$(mktemp -d)
  corpus=()
  [[ -d "tests/fuzz/corpus/$name" ]] && corpus+=("tests/fuzz/corpus/$name")
  echo "== $name: ${seconds}s on ${corpus[*]:-an empty corpus}"
  log="build/fuzz/artifacts/$name.log"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/artifacts/$name-" "$scratch" "${corpus[@]}" >"$log" 2>&1; then
    grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
  else
    echo "fuzz: $name FAILED (log: $log)" >&2
    tail -40 "$log" >&2
    status=1
  fi
  rm -rf "$scratch"
done
exit $status
