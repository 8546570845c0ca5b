// Host-side mount helpers: is a directory usable as a mountpoint, which
// filesystem is mounted where, and unmounting a FUSE mount.
#pragma once

#include <optional>
#include <string>

#include "webc/base/result.h"

namespace webcfs::fuse {

// The filesystem type webcfs mounts register (/proc/self/mountinfo).
inline constexpr const char* kFsType = "fuse.webcfs";

struct MountEntry {
  std::string mount_point;  // absolute, as the kernel reports it (unescaped)
  std::string fs_type;      // e.g. "fuse.webcfs"
  std::string source;       // fsname
};

// The topmost mount whose mount point is exactly `path` (made absolute and
// normalized lexically, not through symlinks, so that it also works for a
// dead FUSE mount), or nullopt when nothing is mounted there.
Result<std::optional<MountEntry>> FindMount(const std::string& path);

// OK when `path` exists, is a directory, has nothing mounted on it and, unless
// `allow_nonempty`, is empty. A dead FUSE mount ("Transport endpoint is not
// connected") is reported as such.
Result<void> CheckMountpoint(const std::string& path, bool allow_nonempty = false);

// Unmounts the FUSE filesystem at `path`: umount2(2) when privileged, else
// `fusermount3 -u`. `lazy` detaches a busy mount (MNT_DETACH / -z).
Result<void> UnmountPath(const std::string& path, bool lazy);

}  // namespace webcfs::fuse
