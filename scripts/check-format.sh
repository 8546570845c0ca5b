#!/usr/bin/env bash
# Fails when a tracked C++ file is not formatted as .clang-format says
# (clang-format --dry-run -Werror); run by ctest as clang_format_check.
set -euo pipefail
cd "$(dirname "$0")/.."
# safe.directory: CI may run as another user than the checkout's owner.
mapfile -d '' files < <(git -c safe.directory='*' ls-files -z '*.cc' '*.h')
if ((${#files[@]} == 0)); then
  echo "check-format: git listed no C++ files" >&2
  exit 1
fi
clang-format --dry-run -Werror "${files[@]}"
echo "check-format: ${#files[@]} files are formatted"
