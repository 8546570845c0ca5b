#include "daemon/mount_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "daemon/status_file.h"

namespace webcfs::daemon {

namespace {

std::string LockFilePath(const std::string& mountpoint) {
  std::string path = StatusFilePath(mountpoint);
  return path.substr(0, path.rfind('.')) + ".lock";
}

// The pid the holder wrote, or "" before it wrote one.
std::string HolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  const long pid = std::strtol(buf, nullptr, 10);
  return pid > 0 ? std::to_string(pid) : "";
}

}  // namespace

Result<int> LockMountpoint(const std::string& mountpoint) {
  WEBCFS_RETURN_IF_ERROR(EnsureRuntimeDir());
  const std::string path = LockFilePath(mountpoint);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::Io("lock file " + path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = HolderPid(fd);
    close(fd);
    if (err != EWOULDBLOCK) return Error::Io("lock file " + path, err);
    return Error::Conflict("mountpoint " + NormalizeMountpoint(mountpoint) +
                           " is already being mounted or served by another webcfs daemon" +
                           (holder.empty() ? "" : " (pid " + holder + ")"));
  }
  RecordLockHolder(fd);
  return fd;
}

void RecordLockHolder(int lock_fd) {
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, pid.data(), pid.size(), 0) < 0) {
    // Only the loser's message lacks the pid.
  }
}

}  // namespace webcfs::daemon
