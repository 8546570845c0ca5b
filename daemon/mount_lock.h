// One `webcfs mount` per mountpoint at a time: an flock(2) on a lock file in
// the runtime directory (RuntimeDir()), named after the normalized mountpoint
// like its status file. `mount` takes it before it checks the mountpoint, and
// the daemon keeps it until it exits (the kernel drops it when the process
// dies, even after `kill -9`), so two racing mounts can never both mount.
// The file holds the pid of the holder, for the loser's message.
#pragma once

#include <string>

#include "webc/base/result.h"

namespace webcfs::daemon {

// Takes the lock of `mountpoint` or fails at once (Conflict) naming the
// mountpoint and the pid holding it. The descriptor is close-on-exec and stays
// open for the life of the process (and of a forked child).
Result<int> LockMountpoint(const std::string& mountpoint);

// Records the calling process as the holder (after fork, the daemon child).
void RecordLockHolder(int lock_fd);

}  // namespace webcfs::daemon
