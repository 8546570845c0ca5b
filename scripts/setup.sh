#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian's archive.
# Idempotent: when every package is already present it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config clang clang-format
  libfuse3-dev fuse3 libzstd-dev zstd nlohmann-json3-dev libspdlog-dev libfmt-dev
  libssl-dev libcurl4-openssl-dev libcli11-dev libtomlplusplus-dev libgtest-dev libgmock-dev libclang-rt-14-dev
  wabt  # wat2wasm: compiles the example packages (examples/)
  # tests
  golang-go attr systemd psmisc nginx
  docker-registry  # CNCF distribution: the OCI registry tests/remote/oci_test.cc pushes to
  apache2-utils openssl  # htpasswd -B and the token server's key: OCI auth tests
  skopeo  # OCI interop: copies an OCI layout to the test registry, reads manifests back
  systemd-container  # systemd-nspawn: boots a real systemd for tests/service/systemd_boot_test.sh
  # benchmarks
  squashfuse fuse-overlayfs erofs-utils squashfs-tools fio hyperfine gnuplot-nox time python3
  linux-perf valgrind
  iproute2 curl iputils-ping  # bench/remote.py: network namespace, tc netem, the curl peer
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm (for the Wasmer oracle) may come from another source than Debian; only
# install Debian's when no node is present at all.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
