#!/usr/bin/env bash
# The shipped units under a real systemd: boots systemd as PID 1 in a
# systemd-nspawn container made of the host's own /usr and /etc (read-only,
# plus the `cmake --install` tree and a test /etc layered on top) and drives
# webcfs@.service and the mount(8) helper with systemctl, mount and journalctl.
#
#   systemd_boot_test.sh BUILD_DIR SOURCE_DIR [SANITIZED]
#
# Exit status: 0 every step passed, 1 a step failed, 77 skipped (the reason is
# printed; ctest shows the test as skipped): not root, no /dev/fuse, no
# systemd-nspawn or nsenter, no mount namespaces, or a sanitizer build.
set -uo pipefail

build=$(realpath "${1:?usage: $0 BUILD_DIR SOURCE_DIR [SANITIZED]}")
source=$(realpath "${2:?usage: $0 BUILD_DIR SOURCE_DIR [SANITIZED]}")
sanitized=${3:-0}

skip() {
  echo "SKIP: $*"
  exit 77
}

# --- can a container boot here? ---------------------------------------------
case "$sanitized" in
  1 | ON | TRUE | true) skip "sanitizer build (the release build's run covers the units)" ;;
esac
[[ $(id -u) -eq 0 ]] || skip "not root: systemd-nspawn needs root"
[[ -c /dev/fuse ]] || skip "no /dev/fuse"
command -v systemd-nspawn >/dev/null || skip "no systemd-nspawn (Debian package systemd-container)"
command -v nsenter >/dev/null || skip "no nsenter (util-linux)"
unshare --mount true 2>/dev/null ||
  skip "cannot create a mount namespace (a container without CAP_SYS_ADMIN?)"
registry="$build/examples/registry"
[[ -f "$registry/webcfs--demo@1.0.0.webc" ]] || {
  echo "FAIL: $registry has no webcfs/demo (build the examples first)"
  exit 1
}

work=$(mktemp -d /tmp/webcfs-nspawn.XXXXXX)
machine="webcfs-test-${work##*.}"
nspawn_pid=""
leader=""
deadline_pid=""

# Powers the container off (SIGRTMIN+4 to its systemd), and kills it when
# that takes too long; then removes the work directory. Runs on every exit,
# to the end: a signal arriving meanwhile is ignored.
teardown() {
  trap '' INT TERM
  [[ -n "$deadline_pid" ]] && pkill -P "$deadline_pid" 2>/dev/null
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    [[ -n "$leader" ]] || leader=$(pgrep -P "$nspawn_pid" | head -1)
    [[ -n "$leader" ]] && kill -s RTMIN+4 "$leader" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$nspawn_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      # Killing PID 1 ends the container; killing only systemd-nspawn would orphan it.
      echo "teardown: the container did not power off in 10 s; killing it"
      [[ -n "$leader" ]] && kill -KILL "$leader" 2>/dev/null
      sleep 1
      kill -KILL "$nspawn_pid" 2>/dev/null
    fi
    wait "$nspawn_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap teardown EXIT
trap 'exit 1' INT TERM

# --- the container's tree ----------------------------------------------------
# root/: the container's /, empty but for os-release, the merged-/usr links
# and mountpoints. usr/: the installed tree, layered over the host's /usr
# (/sbin/mount.fuse.webcfs is /usr/sbin there). etc/: the test's
# configuration, layered over the host's /etc; writes inside land here too.
root="$work/root"
mkdir -p "$root/usr/lib" "$root/mnt/demo" "$root/mnt/fstab" "$root/srv/webc" "$work/dest"
cp /usr/lib/os-release "$root/usr/lib/os-release"
for d in bin sbin lib lib64; do [[ -e /usr/$d ]] && ln -s "usr/$d" "$root/$d"; done

if ! DESTDIR="$work/dest" cmake --install "$build" >"$work/install.log" 2>&1; then
  echo "FAIL: cmake --install $build:"
  cat "$work/install.log"
  exit 1
fi
if [[ -d "$work/dest/sbin" ]]; then
  mkdir -p "$work/dest/usr/sbin"
  mv "$work/dest/sbin/"* "$work/dest/usr/sbin/"
  rmdir "$work/dest/sbin"
fi
for top in "$work/dest"/*; do
  [[ "$top" == "$work/dest/usr" ]] || cp -a "$top" "$root/"
done
unit=$(find "$work/dest" -name 'webcfs@.service' | head -1)
webcfs=$(sed -n 's|^ExecStart=\([^ ]*\) mount .*|\1|p' "$unit")

etc="$work/etc"
mkdir -p "$etc/webcfs" "$etc/systemd/system/webcfs@demo.service.d"
cat >"$etc/webcfs/demo.json" <<'JSON'
{
  "package": "webcfs/demo",
  "mountpoint": "/mnt/demo",
  "registries": ["/srv/webc"],
  "cache_dir": "/var/cache/webcfs",
  "log_level": "info"
}
JSON
# The shipped watchdog period, shortened so that its restart fits the test.
cat >"$etc/systemd/system/webcfs@demo.service.d/test.conf" <<'EOF'
[Service]
WatchdogSec=4s
EOF
# systemd-fstab-generator turns this into mnt-fstab.mount at boot.
fstab_options=ro,nofail,registry=/srv/webc,cache=/var/cache/webcfs-fstab
echo "webcfs/demo /mnt/fstab fuse.webcfs $fstab_options 0 0" >"$etc/fstab"

# --- boot ----------------------------------------------------------------------
uuid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
systemd-nspawn -D "$root" --machine="$machine" --register=no --keep-unit --uuid="$uuid" \
  --private-network --console=read-only \
  --overlay-ro="/usr:$work/dest/usr:/usr" --overlay="/etc:$etc:/etc" \
  --bind-ro="$registry:/srv/webc" --bind=/dev/fuse \
  -b systemd.unit=basic.target >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
# A hung step must still end in teardown, so the test keeps a deadline of its
# own well inside ctest's TIMEOUT (which would kill this script outright):
# killing the container's PID 1 ends every command running inside it.
# Teardown kills the sleep, which ends this subshell before it acts.
(
  sleep 200 || exit 0
  echo "FAIL: no result after 200 s; killing the container"
  kill -TERM $$
  kill -KILL $(pgrep -P "$nspawn_pid") 2>/dev/null
) &
deadline_pid=$!

# Runs a command inside the container with a clean environment.
inside() {
  nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin LANG=C.UTF-8 SYSTEMD_PAGER= \
    SYSTEMD_COLORS=0 "$@"
}

for _ in $(seq 1 300); do
  leader=$(pgrep -P "$nspawn_pid" | head -1)
  [[ -n "$leader" ]] && inside test -S /run/systemd/private 2>/dev/null && break
  kill -0 "$nspawn_pid" 2>/dev/null || break
  leader=""
  sleep 0.1
done
if [[ -z "$leader" ]]; then
  echo "FAIL: systemd did not come up in the container; systemd-nspawn said:"
  cat "$work/nspawn.log"
  exit 1
fi
state=$(inside timeout 60 systemctl is-system-running --wait 2>&1)
echo "container $machine booted: $state"
[[ "$state" == running ]] || inside systemctl --failed --no-legend --no-pager

# --- steps -------------------------------------------------------------------
failed=()
step() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    echo "PASS: $name"
  else
    echo "FAIL: $name"
    echo "$out" | sed 's/^/    /'
    failed+=("$name")
  fi
}

expected_file="$source/examples/demo/etc/demo.toml"
# The mount at $1 serves the example's files.
serves() {
  inside cat "$1/etc/demo/demo.toml" | cmp - "$expected_file" &&
    inside test -s "$1/.webc/resolution.json"
}
main_pid() { inside systemctl show -P MainPID webcfs@demo; }
unit_status() { inside systemctl status --no-pager "${1:-webcfs@demo}"; }
# The unit running from a clean state, whatever an earlier step left behind
# (a failed unit, a dead mount), so that each step stands on its own.
fresh_start() {
  if [[ $(inside systemctl is-active webcfs@demo) != active ]]; then
    inside systemctl stop webcfs@demo
    inside systemctl reset-failed webcfs@demo
    inside umount -l /mnt/demo 2>/dev/null
    inside systemctl start webcfs@demo || return 1
  fi
  local pid
  pid=$(main_pid)
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || { echo "no main process (MainPID=$pid)"; return 1; }
}
status_text() { inside systemctl show -P StatusText webcfs@demo; }
# Polls `$@` every 0.2 s for up to $1 seconds.
within() {
  local seconds=$1
  shift
  local n
  for ((n = 0; n < seconds * 5; n++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "$@"
}
active_and_serving() {
  [[ $(inside systemctl is-active webcfs@demo) == active ]] && [[ $(main_pid) != "$1" ]] &&
    serves /mnt/demo
}

start_unit() {
  inside systemctl start webcfs@demo || { unit_status; return 1; }
  [[ $(inside systemctl is-active webcfs@demo) == active ]] || return 1
  unit_status | grep -q 'Status: "serving webcfs/demo@1.0.0, generation 1' || {
    unit_status
    return 1
  }
  serves /mnt/demo
}

reload_unit() {
  local before
  before=$(main_pid)
  inside systemctl reload webcfs@demo || return 1
  status_text | grep -q 'generation 2' || { status_text; return 1; }
  inside "$webcfs" status /mnt/demo | grep -q '^generation: *2$' || {
    inside "$webcfs" status /mnt/demo
    return 1
  }
  [[ $(main_pid) == "$before" ]] && serves /mnt/demo
}

# systemd restarts a killed daemon (Restart=on-failure), which replaces the
# dead mount the killed one left behind.
kill_restarts() {
  local before
  before=$(main_pid)
  inside systemctl kill -s SIGKILL webcfs@demo || return 1
  within 10 active_and_serving "$before" || {
    unit_status
    inside journalctl -u webcfs@demo --no-pager -n 20
    return 1
  }
}

# A daemon that stops answering (SIGSTOP) misses its WATCHDOG=1 pings; systemd
# aborts and restarts it.
watchdog_restarts() {
  local before
  fresh_start || return 1
  serves /mnt/demo || return 1 # in use, as a stopped daemon's mount would be
  before=$(main_pid)
  inside kill -STOP "$before" || return 1
  within 40 active_and_serving "$before" || {
    inside kill -CONT "$before"
    unit_status
    inside journalctl -u webcfs@demo --no-pager -n 20
    return 1
  }
  inside journalctl -u webcfs@demo --no-pager | grep -q 'Watchdog timeout'
}

stop_unmounts() {
  fresh_start || return 1
  inside systemctl stop webcfs@demo || return 1
  [[ $(inside systemctl is-active webcfs@demo) == inactive ]] || {
    unit_status
    return 1
  }
  ! inside grep -q ' /mnt/demo ' /proc/self/mountinfo
}

journal_has_lines() {
  local lines
  lines=$(inside journalctl -u webcfs@demo MOUNTPOINT=/mnt/demo --no-pager -o cat)
  echo "$lines"
  grep -q 'SIGHUP: reloading' <<<"$lines" &&
    grep -q 'reloaded: serving webcfs/demo@1.0.0' <<<"$lines"
}

# Where the daemon serving $1 logs, as `webcfs status` reports it.
logs_to() { inside "$webcfs" status "$1" | sed -n 's/^logs to: *//p'; }

# fstab: systemd mounted it at boot (mnt-fstab.mount runs mount.fuse.webcfs);
# umount ends the daemon; `mount -a` mounts it again through the helper. The
# daemon logs to the journal under the mount unit, to syslog after `mount -a`.
fstab_mounts() {
  [[ $(inside systemctl is-active mnt-fstab.mount) == active ]] || {
    unit_status mnt-fstab.mount
    return 1
  }
  serves /mnt/fstab || return 1
  [[ $(logs_to /mnt/fstab) == journal ]] || { logs_to /mnt/fstab; return 1; }
  inside umount /mnt/fstab || return 1
  ! inside grep -q ' /mnt/fstab ' /proc/self/mountinfo || return 1
  inside mount -a || return 1
  serves /mnt/fstab || return 1
  inside grep ' /mnt/fstab ' /proc/self/mountinfo | grep -q ' fuse.webcfs ' || return 1
  [[ $(logs_to /mnt/fstab) == syslog ]] || { logs_to /mnt/fstab; return 1; }
  inside umount /mnt/fstab
}

step "systemctl start: active, STATUS= shown, mount serves" start_unit
step "systemctl reload: generation 2" reload_unit
step "systemctl kill -s SIGKILL: restarted and serving within 10 s" kill_restarts
step "SIGSTOP: watchdog restarts the daemon" watchdog_restarts
step "systemctl stop: unmounted" stop_unmounts
step "journalctl -u webcfs@demo MOUNTPOINT=/mnt/demo: the daemon's lines" journal_has_lines
step "fstab: mounted at boot, umount, mount -a through mount.fuse.webcfs" fstab_mounts

if ((${#failed[@]})); then
  echo "${#failed[@]} step(s) failed: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
