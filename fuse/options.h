// Options of the FUSE server. daemon/ fills them from the command line (and
// later from config files); they are never mixed with runtime state.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace webcfs::fuse {

// Worker threads of the multi-threaded session loop. 2-4 fits small machines:
// more threads only add context switches when there are few cores.
inline constexpr unsigned kDefaultThreads = 4;

// The control directory at the root of a mount (SnapshotOptions::meta_dir).
inline constexpr std::string_view kDefaultMetaDir = ".webc";

struct Options {
  // Owner reported for every file and directory. Default: the daemon's own
  // ids, so the user who mounted sees their files.
  uid_t uid = getuid();
  gid_t gid = getgid();

  // Extended attributes user.webc.{package,volume,sha256}. Off: getxattr and
  // listxattr answer ENOSYS, the kernel stops asking, and `ls -l` saves two
  // round trips per entry (docs/performance.md, "Directory listing").
  bool xattr = false;

  // Let users other than the mounter see the filesystem (`-o allow_other`).
  // Non-root mounters need user_allow_other in /etc/fuse.conf.
  bool allow_other = false;

  unsigned threads = kDefaultThreads;

  // Kernel cache lifetimes in seconds. Content never changes within a
  // snapshot, so entries, attributes and absences can be cached "forever";
  // a reload invalidates explicitly (Server::SwapSnapshot).
  double entry_timeout = 1e9;
  double attr_timeout = 1e9;
  double negative_timeout = 1e9;

  // Largest read request (bytes). 1 MiB = the kernel's maximum of 256 pages:
  // fewer round trips for sequential reads.
  unsigned max_read = 1 << 20;

  // Concurrent background (readahead) requests the kernel may queue. The
  // kernel default of 12 starves parallel readers of a multi-threaded daemon.
  unsigned max_background = 64;

  // Move file bytes from the container file to /dev/fuse with splice(2)
  // instead of copying them through the daemon.
  bool splice = true;

  // Once a small file is read, store its directory's other small files into
  // the kernel's page cache, so that reading them costs no request
  // (fuse/small_file_pusher.h). Costs page cache for files never read: at
  // most 1 MiB per directory in which a small file was read.
  bool push_small_files = true;

  // Name of the filesystem in /proc/mounts (fsname=...).
  std::string fs_name = "webcfs";

  // libfuse's request tracing on stderr (-d).
  bool debug = false;

  // Mount over a directory that has entries (`-o nonempty`), hiding them.
  // Refused by default: a mistyped mountpoint (the registry itself) would
  // vanish under the mount.
  bool nonempty = false;
};

}  // namespace webcfs::fuse
