// Integration-test helpers: run the built `webcfs` binary, mount packages for
// real under a fresh temporary directory (always unmounted again), and walk
// or compare directory trees with ordinary syscalls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/common/host.h"
#include "tests/common/package_builder.h"
#include "tests/common/paths.h"

namespace webcfs::testing {

// A package mounted with `webcfs mount SPEC MOUNTPOINT ARGS...` (background
// mode) on a fresh directory /tmp/fuse-it-XXXXXX. Unmounts and removes the
// directory on destruction, even when the test failed.
class Mount {
 public:
  Mount(const std::string& spec, const std::vector<std::string>& args = {});
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  bool ok() const { return result_.exit_code == 0; }
  const CommandResult& result() const { return result_; }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  // The daemon process serving this mount, or -1.
  pid_t DaemonPid() const;
  // Unmounts now (webcfs unmount) and waits for the daemon to exit.
  // Returns the unmount command's result.
  CommandResult Unmount();

 private:
  std::string path_;
  CommandResult result_;
  bool mounted_ = false;
};

// One entry of a tree walk.
struct TreeEntry {
  char type = '?';  // 'd' directory, 'f' regular file, 'l' symlink, '?' other
  uint64_t size = 0;
  std::string sha256;  // files
  bool operator==(const TreeEntry&) const = default;
};
// Relative path ("a/b") -> entry for everything below `root`, using lstat,
// readdir and read. Entries named in `skip` (relative paths) are not visited.
std::map<std::string, TreeEntry> WalkTree(const std::string& root,
                                          const std::vector<std::string>& skip = {});

// True while `pid` runs. A process that exited but was not reaped yet (a
// zombie) counts as gone: the daemon is reparented to PID 1, which on some
// machines reaps only every second or so.
bool ProcessAlive(pid_t pid);

// Page-cache residency (mincore) of the pages of `path` that overlap bytes
// [begin, end); `end` is clipped to the file's size.
struct Residency {
  size_t resident = 0;
  size_t pages = 0;
  bool all() const { return pages != 0 && resident == pages; }
};
Residency PageResidency(const std::string& path, uint64_t begin = 0, uint64_t end = UINT64_MAX);

// True when `path` is a mount point in /proc/self/mountinfo.
bool IsMounted(const std::string& path);

std::string Sha256Hex(std::string_view bytes);

// Writes packages into a directory registry (registry file names).
std::string WriteToRegistry(const PackageBuilder& p, const std::string& registry_dir);

}  // namespace webcfs::testing
