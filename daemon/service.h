// Service: runs a mounted fuse::Server until it is stopped, as a well-behaved
// long-running daemon (docs/architecture.md, "Daemon"):
//   - readiness: a statfs(2) of the mountpoint that went through the kernel and
//     was answered by this process; then READY=1 (sd_notify) and on_ready(true);
//   - SIGHUP: RELOADING=1, rebuild() (re-resolve or re-read the lockfile), an
//     atomic snapshot swap (the server invalidates the kernel's cached root
//     entries; open files keep their snapshot), READY=1. A failing rebuild
//     keeps the old snapshot, logs why and shows it in STATUS=. Never unmounts;
//   - SIGTERM/SIGINT: STOPPING=1, unmount, exit 0. A busy mount (a process has
//     its cwd or an open file inside) cannot be unmounted cleanly: that is
//     logged, the session ends and the mount is detached lazily (MNT_DETACH);
//   - watchdog: when WATCHDOG_USEC is set, WATCHDOG=1 every half interval from
//     a thread that first checks the FUSE loop answers a statfs. A hung loop
//     blocks the check, the pings stop and systemd restarts the service;
//   - SIGUSR1: on_status_request (fresh counters for `webcfs status`);
//   - the mount going away underneath (`umount`, `webcfs unmount`) ends the
//     service with exit 0.
//
// Signals: RunService blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 in the calling thread
// (and so in the FUSE workers it starts) and waits for them in a supervisor
// thread with sigwait(2): no work happens in a signal handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fuse/server.h"
#include "fuse/snapshot.h"
#include "webc/base/result.h"

namespace webcfs::daemon {

struct ServiceHooks {
  // Builds the snapshot a reload swaps in. Runs on the supervisor thread.
  std::function<Result<std::shared_ptr<const fuse::Snapshot>>()> rebuild;
  // Called once: true when the mount answers, false when it never did (the
  // service then stops and RunService returns non-zero).
  std::function<void(bool ready)> on_ready;
  // Called after every reload attempt with the new generation (success) or
  // the error (the old snapshot stays).
  std::function<void(const Result<uint32_t>& outcome)> on_reload;
  // SIGUSR1 (`webcfs status`): refresh what the status file says.
  std::function<void()> on_status_request;
};

// REQUIRES: server.Mount() succeeded. Returns the process exit status:
// 0 after a requested stop or an external unmount, 1 on a fatal error.
int RunService(fuse::Server& server, const ServiceHooks& hooks);

// "ns/name@1.2.3, generation 3, 5 packages" (STATUS= and log lines).
std::string DescribeSnapshot(const fuse::Snapshot& snapshot, uint32_t generation);

}  // namespace webcfs::daemon
