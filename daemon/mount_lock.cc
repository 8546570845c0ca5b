#include "daemon/mount_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "daemon/status_file.h"

namespace webcfs::daemon {

namespace {

std::string LockFilePath(const std::string& mountpoint) {
  std::string path = StatusFilePath(mountpoint);
  return path.substr(0, path.rfind('.')) + ".lock";
}

// The pid the holder wrote, or "" when it wrote none. A holder that has just
// taken the lock writes its pid at once: wait briefly for it.
std::string HolderPid(int fd) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    char buf[32] = {};
    const long pid = pread(fd, buf, sizeof buf - 1, 0) > 0 ? std::strtol(buf, nullptr, 10) : 0;
    if (pid > 0) return std::to_string(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return "";
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
  // Fixed width, written in one piece: a reader never sees a truncated file.
  char pid[16];
  const int n = std::snprintf(pid, sizeof pid, "%10d\n", static_cast<int>(getpid()));
  if (pwrite(lock_fd, pid, static_cast<size_t>(n), 0) != n) {
    // Only a loser's message lacks the pid.
  }
}

}  // namespace webcfs::daemon
