// Starting a mount: everything that can fail for a reason the user can fix
// (configuration, spec, resolution, containers, mountpoint, the mount itself)
// happens before serving or forking, so `webcfs mount` exits non-zero with one
// message and nothing stays mounted. Then it serves in the foreground
// (systemd: Type=notify) or in the background (daemon/background.h).
#pragma once

#include "daemon/config.h"
#include "webc/base/result.h"

namespace webcfs::daemon {

// Exit statuses: 0 served and stopped cleanly; 1 runtime failure (resolution,
// mount, I/O); 2 bad configuration or usage (restarting cannot help: the unit
// has RestartPreventExitStatus=2).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitConfig = 2;

// A fatal error before serving: logs it, tells systemd (ERRNO=), returns `code`.
int FailStartup(const Error& e, int code);

// Mounts and serves what `config` names (absolute paths); returns the exit
// status. In the background mode the parent process exits inside.
int RunMount(const MountConfig& config);

}  // namespace webcfs::daemon
