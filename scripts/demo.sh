#!/usr/bin/env bash
# The README's main-job command. Until the filesystem exists it shows the
# bundled example package: installs dependencies, builds the release
# configuration (which compiles examples/hello and packs it with `webcfs pack`
# into build/release/examples/registry/), then prints what the container holds
# with `webcfs inspect --verify`, and the lockfile of the example tree
# examples/demo (`webcfs resolve`). It will become a mount of webcfs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release

webcfs=build/release/daemon/webcfs
pkg=build/release/examples/registry/webcfs--hello@0.1.0.webc
echo "== webcfs inspect --verify $pkg"
"$webcfs" inspect --verify "$pkg"

echo
echo "== webcfs resolve webcfs/demo --registry build/release/examples/registry"
"$webcfs" resolve webcfs/demo --registry build/release/examples/registry
