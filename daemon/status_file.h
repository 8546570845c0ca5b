// The daemon's status file: how `webcfs status MOUNTPOINT` and `webcfs reload
// MOUNTPOINT` find and describe the daemon serving a mountpoint.
//
// One JSON file per mount in the runtime directory (RuntimeDir()), named after
// the mountpoint, rewritten atomically (temp + rename) at readiness and after
// every reload attempt:
//   {"pid": 1234, "mountpoint": "/mnt/x", "spec": "ns/x@^1",
//    "package": "ns/x@1.2.0", "packages": ["ns/x@1.2.0", ...],
//    "generation": 2, "started": <unix seconds>, "start_ticks": 81234,
//    "reloads": 1,
//    "last_reload_error": null, "updated_ms": <unix milliseconds>,
//    "counters": {"lookups": 10, "reads": 4, "bytes_read": 4096, "errors": 0,
//                 "bytes_fetched": 0, "files_verified": 0, "fetch_errors": 0},
//    "log": "syslog"}
// The counters are refreshed on SIGUSR1, which `webcfs status` sends.
// Removed when the daemon stops. A crashed daemon leaves its file behind and
// its pid may then belong to another process, so pid and start_ticks (the
// process start time, /proc/PID/stat field 22) together name the daemon: a
// file whose process is gone, a zombie or another process is stale.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::daemon {

struct DaemonStatus {
  int64_t pid = 0;
  std::string mountpoint;  // absolute, normalized
  std::string spec;
  std::string package;  // root package id
  std::vector<std::string> packages;
  uint32_t generation = 0;
  int64_t started = 0;  // unix seconds
  // Start time of the daemon process in clock ticks after boot; 0 when the
  // file was written by a daemon that did not record it.
  uint64_t start_ticks = 0;
  uint64_t reloads = 0;  // reload attempts, successful or not
  std::optional<std::string> last_reload_error;
  int64_t updated_ms = 0;  // when the daemon wrote this (unix milliseconds)
  // Requests served (fuse::Server::Counters) as of updated_ms.
  uint64_t lookups = 0;
  uint64_t reads = 0;
  uint64_t bytes_read = 0;
  uint64_t errors = 0;
  // Lazy remote packages (resolver/lazy_source.h): bytes fetched with range
  // requests, files fetched and verified, failed fetches and hash mismatches.
  uint64_t bytes_fetched = 0;
  uint64_t files_verified = 0;
  uint64_t fetch_errors = 0;
  // Where the daemon logs (LogDestination): "journal", "syslog", "file /path", ...
  std::string log;
};

// /run/webcfs for root, $XDG_RUNTIME_DIR/webcfs or /tmp/webcfs-<uid> otherwise;
// WEBCFS_RUNTIME_DIR overrides it (tests, several instances).
std::string RuntimeDir();
// Creates RuntimeDir() (mode 0700) when missing.
Result<void> EnsureRuntimeDir();

// Absolute, lexically normalized (no symlink resolution: works for a dead mount).
std::string NormalizeMountpoint(const std::string& path);

// The status file of `mountpoint` (normalized first).
std::string StatusFilePath(const std::string& mountpoint);

Result<void> WriteStatus(const DaemonStatus& status);
// The status of the daemon serving `mountpoint`. A stale file (its daemon is
// gone) is removed and reported as NotFound.
Result<DaemonStatus> ReadStatus(const std::string& mountpoint);
void RemoveStatus(const std::string& mountpoint);

// Start time of `pid` in clock ticks after boot, or nullopt when it is not
// running (no such process, or a zombie).
std::optional<uint64_t> ProcessStartTicks(pid_t pid);

// Sends `sig` to the daemon `status` names, only while that pid is still the
// same, living process (a pidfd keeps the pid from being reused between the
// check and the signal). NotFound when the daemon is gone.
Result<void> SignalDaemon(const DaemonStatus& status, int sig);

}  // namespace webcfs::daemon
