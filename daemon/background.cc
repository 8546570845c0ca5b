#include "daemon/background.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "daemon/mount.h"
#include "daemon/mount_lock.h"
#include "daemon/serve.h"
#include "fuse/mountpoint.h"

namespace webcfs::daemon {
namespace {

// Parent side of the background mode: wait for the child's verdict.
int WaitForReady(pid_t child, int ready_fd, const std::string& mountpoint) {
  char byte = 0;
  ssize_t n;
  do {
    n = read(ready_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  close(ready_fd);
  if (n == 1 && byte == 'R') return 0;
  int status = 0;
  waitpid(child, &status, WNOHANG);
  spdlog::error("the daemon exited before {} answered; unmounting", mountpoint);
  auto mounted = fuse::FindMount(mountpoint);
  if (mounted && mounted->has_value() && (*mounted)->fs_type == fuse::kFsType) {
    (void)fuse::UnmountPath(mountpoint, /*lazy=*/true);
  }
  return kExitFailure;
}

}  // namespace

Error ServeInBackground(const MountConfig& config, const SnapshotFactory& factory,
                        std::unique_ptr<fuse::Server>& server, int lock_fd, LogTarget serving_log) {
  if (serving_log == LogTarget::kSyslog && access("/dev/log", W_OK) != 0) {
    spdlog::warn(
        "no syslog socket /dev/log: the daemon's log lines will be lost (--log-file "
        "FILE keeps them)");
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::Io("pipe", errno);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Error::Io("fork", errno);
  if (pid == 0) {
    close(pipe_fds[0]);
    RecordLockHolder(lock_fd);
    setsid();
    if (chdir("/") != 0) {
      // Not fatal: only keeps the old working directory busy.
    }
    const int rc = Serve(config, factory, *server, pipe_fds[1], serving_log);
    server.reset();
    std::fflush(nullptr);
    _exit(rc);
  }
  close(pipe_fds[1]);
  const int rc = WaitForReady(pid, pipe_fds[0], config.mountpoint);
  // The mount belongs to the child now: leave without running destructors
  // (the Server's would unmount it).
  std::fflush(nullptr);
  _exit(rc);
}

}  // namespace webcfs::daemon
