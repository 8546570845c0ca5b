// The background mode of `webcfs mount`: fork, and let the parent exit only
// once the child's mount answers a request (or the child failed), so that a
// script or mount(8) can use the mount as soon as the command returns.
#pragma once

#include <memory>

#include "daemon/config.h"
#include "daemon/logging.h"
#include "daemon/snapshot_factory.h"
#include "fuse/server.h"
#include "webc/base/result.h"

namespace webcfs::daemon {

// Forks a child that records itself as the holder of `lock_fd`, starts a
// session and serves `server` (daemon/serve.h); the parent waits for the
// child's verdict and exits without running destructors, since the mount
// belongs to the child. Returns only when the pipe or the fork fails.
Error ServeInBackground(const MountConfig& config, const SnapshotFactory& factory,
                        std::unique_ptr<fuse::Server>& server, int lock_fd, LogTarget serving_log);

}  // namespace webcfs::daemon
