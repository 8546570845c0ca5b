#include "daemon/mount.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/vfs.h>

#include <cerrno>
#include <memory>
#include <string>

#include "daemon/background.h"
#include "daemon/catalog_mount.h"
#include "daemon/file_limit.h"
#include "daemon/logging.h"
#include "daemon/mount_lock.h"
#include "daemon/mount_settings.h"
#include "daemon/notify.h"
#include "daemon/serve.h"
#include "daemon/snapshot_factory.h"
#include "daemon/status_file.h"
#include "fuse/mountpoint.h"
#include "fuse/options.h"
#include "fuse/server.h"

namespace webcfs::daemon {
namespace {

// Where the daemon logs once it serves: the --log-file if given; else a
// background daemon outside systemd, whose stderr is /dev/null by then, logs to
// syslog; else where it logged at start (the journal, or its terminal).
LogTarget ServingLogTarget(const MountConfig& config) {
  if (!config.log_file.empty()) return LogTarget::kFile;
  const LogTarget start = DetectLogTarget();
  if (config.foreground || start == LogTarget::kJournal) return start;
  return LogTarget::kSyslog;
}

// Start-up after a `kill -9`: the dead mount of a previous webcfs daemon is
// detached before mounting again. Only a call that always reaches the daemon
// tells a dead mount (ENOTCONN): statfs() does, while stat() is answered from
// the kernel's attribute cache, which never expires on a webcfs mount. Called
// with the mountpoint lock held, so no live daemon can own this mount.
Result<void> ClearStaleMount(const std::string& mountpoint) {
  auto mounted = fuse::FindMount(mountpoint);
  if (!mounted) return std::move(mounted.error());
  if (!mounted->has_value() || (*mounted)->fs_type != fuse::kFsType) {
    return Ok();  // nothing, or not ours to clear: CheckMountpoint reports it
  }
  struct statfs st;
  if (statfs(mountpoint.c_str(), &st) == 0 || errno != ENOTCONN) return Ok();
  spdlog::warn("{}: a dead webcfs mount from a previous daemon is still attached; detaching it",
               mountpoint);
  return fuse::UnmountPath(mountpoint, /*lazy=*/true);
}

// Mounts `server` and serves it, in the foreground or in a forked daemon.
int MountAndServe(const MountConfig& config, const SnapshotFactory& factory,
                  std::unique_ptr<fuse::Server>& server, LogTarget serving_log, int lock_fd) {
  server->SetFailureReporter([](const std::string& what) { spdlog::error("{}", what); });
  if (auto r = server->Mount(config.mountpoint); !r) return FailStartup(r.error(), kExitFailure);
  spdlog::debug("mounted {} at {}", server->options().fs_name, config.mountpoint);
  if (config.foreground) return Serve(config, factory, *server, /*ready_fd=*/-1, serving_log);
  return FailStartup(ServeInBackground(config, factory, server, lock_fd, serving_log),
                     kExitFailure);
}

}  // namespace

int FailStartup(const Error& e, int code) {
  const std::string message = WithFileLimit(e).message();
  spdlog::error("{}", message);
  notify::Fatal(e.ToErrno(), message);
  return code;
}

int RunMount(const MountConfig& config) {
  // FUSE workers allocate only while they list a directory for the first
  // time, and free it all again. With an arena per worker and glibc's 128 KiB
  // trim threshold, that freed memory stayed resident (docs/performance.md,
  // "Daemon memory"). One arena, trimmed from 64 KiB.
  (void)mallopt(M_ARENA_MAX, 1);
  (void)mallopt(M_TRIM_THRESHOLD, 64 << 10);
  RaiseFileLimit();
  if (config.catalog && !config.spec.empty()) {
    return FailStartup(Error::InvalidArgument("--catalog serves every package of the registries: "
                                              "give only MOUNTPOINT, not a package ('" +
                                              config.spec + "')"),
                       kExitConfig);
  }
  if ((config.spec.empty() && !config.catalog) || config.mountpoint.empty()) {
    return FailStartup(
        Error::InvalidArgument("give SPEC and MOUNTPOINT, or a --config file with 'package' (or "
                               "'lockfile') and 'mountpoint'"),
        kExitConfig);
  }
  SetLogMountpoint(NormalizeMountpoint(config.mountpoint));
  fuse::Options options;
  if (auto r = ApplyFuseOptions(config.mount_options, &options); !r) {
    return FailStartup(r.error(), kExitConfig);
  }
  if (config.uid >= 0) options.uid = static_cast<uid_t>(config.uid);
  if (config.gid >= 0) options.gid = static_cast<gid_t>(config.gid);
  options.threads = config.threads;

  const LogTarget serving_log = ServingLogTarget(config);
  if (!config.log_file.empty()) {
    if (auto r = OpenLogFile(config.log_file); !r) return FailStartup(r.error(), kExitFailure);
  }
  auto lock_fd = LockMountpoint(config.mountpoint);
  if (!lock_fd) return FailStartup(lock_fd.error(), kExitFailure);
  if (auto r = ClearStaleMount(config.mountpoint); !r) return FailStartup(r.error(), kExitFailure);
  if (auto r = fuse::CheckMountpoint(config.mountpoint, options.nonempty); !r) {
    return FailStartup(r.error(), kExitFailure);
  }

  if (config.catalog) {
    notify::Status("listing the registries");
    options.fs_name = "catalog";
    auto server = CreateCatalogServer(config, options);
    if (!server) return FailStartup(server.error(), kExitFailure);
    return MountAndServe(config, SnapshotFactory{}, *server, serving_log, *lock_fd);
  }
  const SnapshotFactory factory = SnapshotFactoryFor(config);
  notify::Status("resolving " + config.spec);
  auto snapshot = factory.Build();
  if (!snapshot) return FailStartup(snapshot.error(), kExitFailure);
  const auto& packages = (*snapshot)->resolution().packages;
  if (!packages.empty()) {
    options.fs_name = packages[0].id;
    SetLogPackage(packages[0].id);
  }

  // The server is the snapshot's only owner: after a reload, the first
  // snapshot must be freed once the kernel forgets its inodes, like any other.
  auto server = fuse::Server::Create(std::move(*snapshot), options);
  if (!server) return FailStartup(server.error(), kExitFailure);
  return MountAndServe(config, factory, *server, serving_log, *lock_fd);
}

}  // namespace webcfs::daemon
