// Serving a mounted filesystem until it stops: the status file
// (daemon/status_file.h) written at readiness, on every reload and on
// request, around RunService (daemon/service.h: signals, reload, watchdog).
#pragma once

#include "daemon/config.h"
#include "daemon/logging.h"
#include "daemon/snapshot_factory.h"
#include "fuse/server.h"

namespace webcfs::daemon {

// Serves `server` (mounted at config.mountpoint) until it stops; returns the
// exit status. Once the mount answers, logging moves to `serving_log` and,
// with `ready_fd` >= 0 (the background parent's pipe), 'R' is written to it,
// the pipe closed and stdio pointed at /dev/null; 'E' when it never answered.
int Serve(const MountConfig& config, const SnapshotFactory& factory, fuse::Server& server,
          int ready_fd, LogTarget serving_log);

}  // namespace webcfs::daemon
