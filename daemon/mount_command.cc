// `webcfs mount SPEC|LOCKFILE MOUNTPOINT` (or `--config FILE`): resolve, build
// the snapshot, mount, then serve — in the background by default, in the
// foreground with --foreground (systemd: Type=notify).
//
// Everything that can fail for a reason the user can fix (configuration, spec,
// resolution, containers, mountpoint, the mount itself) happens before the
// fork, so the command exits non-zero with one message and nothing stays
// mounted. The background parent exits 0 only once the kernel mount answers a
// request, so a script (or mount(8)) can use the mount as soon as it returns.
// Serving itself — signals, reload, watchdog, sd_notify — is daemon/service.h.
//
// Exit status: 0 served and stopped cleanly; 1 runtime failure (resolution,
// mount, I/O); 2 bad configuration or usage (restarting cannot help: the unit
// has RestartPreventExitStatus=2).
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/catalog_mount.h"
#include "daemon/commands.h"
#include "daemon/config.h"
#include "daemon/file_limit.h"
#include "daemon/logging.h"
#include "daemon/mount_lock.h"
#include "daemon/mount_settings.h"
#include "daemon/notify.h"
#include "daemon/service.h"
#include "daemon/status_file.h"
#include "fuse/mountpoint.h"
#include "fuse/options.h"
#include "fuse/server.h"
#include "fuse/snapshot.h"
#include "resolver/resolution.h"

namespace webcfs::daemon {

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;

void RedirectStdioToDevNull() {
  const int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  dup2(fd, STDIN_FILENO);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  if (fd > STDERR_FILENO) close(fd);
}

// Where the daemon logs once it serves: the --log-file if given; else a
// background daemon outside systemd, whose stderr is /dev/null by then, logs to
// syslog; else where it logged at start (the journal, or its terminal).
LogTarget ServingLogTarget(const MountConfig& config) {
  if (!config.log_file.empty()) return LogTarget::kFile;
  const LogTarget start = DetectLogTarget();
  if (config.foreground || start == LogTarget::kJournal) return start;
  return LogTarget::kSyslog;
}

// A fatal error before serving: log it, tell systemd (ERRNO=), return `code`.
int Fail(const Error& e, int code) {
  const std::string message = WithFileLimit(e).message();
  spdlog::error("{}", message);
  notify::Fatal(e.ToErrno(), message);
  return code;
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

// What a mount serves, built from the configuration; also what a reload
// builds again (re-resolving, so registry files added or removed count).
struct SnapshotFactory {
  std::string spec;
  resolver::ResolveOptions resolve_options;
  fuse::SnapshotOptions snapshot_options;

  // `ask_again`: remote registries are asked again, whatever answers are
  // stored (a reload must see what was published since).
  Result<std::shared_ptr<const fuse::Snapshot>> Build(bool ask_again = false) const {
    resolver::ResolveOptions options = resolve_options;
    if (ask_again && !options.offline) options.answer_ttl_seconds = 0;
    auto resolution = resolver::Resolve(spec, options);
    if (!resolution) return WithFileLimit(std::move(resolution.error()));
    for (const std::string& w : resolution->warnings) spdlog::warn("{}", w);
    auto shared = std::make_shared<const resolver::Resolution>(std::move(*resolution));
    auto snapshot = fuse::Snapshot::Build(std::move(shared), snapshot_options);
    if (!snapshot) return WithFileLimit(std::move(snapshot.error()));
    return snapshot;
  }
};

// A status file that cannot be written leaves the mount serving, but
// unreachable for `webcfs status` and `reload`: worth a warning.
void WriteStatusOrWarn(const DaemonStatus& status) {
  if (auto r = WriteStatus(status); !r) spdlog::warn("{}", WithFileLimit(r.error()).message());
}

// Counters and timestamp: what changes between two writes of the status file.
void RefreshCounters(const fuse::Server& server, DaemonStatus* s) {
  const fuse::Server::Counters c = server.counters();
  s->lookups = c.lookups;
  s->reads = c.reads;
  s->bytes_read = c.bytes_read;
  s->errors = c.errors;
  s->updated_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
}

DaemonStatus StatusOf(const std::string& spec, const std::string& mountpoint,
                      const fuse::Server& server, int64_t started) {
  DaemonStatus s;
  s.pid = getpid();
  s.mountpoint = NormalizeMountpoint(mountpoint);
  s.spec = spec;
  if (const auto snapshot = server.current()) {
    for (const auto& p : snapshot->resolution().packages) s.packages.push_back(p.id);
    if (!s.packages.empty()) s.package = s.packages[0];
  } else {
    FillCatalogStatus(server, &s);
  }
  s.generation = server.generation();
  s.started = started;
  s.log = LogDestination();
  s.start_ticks = ProcessStartTicks(getpid()).value_or(0);
  RefreshCounters(server, &s);
  return s;
}

int Serve(const MountConfig& config, const SnapshotFactory& factory, fuse::Server& server,
          int ready_fd, LogTarget serving_log) {
  const int64_t started = static_cast<int64_t>(std::time(nullptr));
  DaemonStatus status = StatusOf(config.spec, config.mountpoint, server, started);
  ServiceHooks hooks;
  hooks.rebuild = [&factory] { return factory.Build(/*ask_again=*/true); };
  hooks.on_ready = [&](bool ready) {
    if (ready) {
      SetupLogging(serving_log, spdlog::default_logger()->level());
      status.log = LogDestination();
      WriteStatusOrWarn(status);
    }
    if (ready_fd >= 0) {
      const char byte = ready ? 'R' : 'E';
      if (write(ready_fd, &byte, 1) != 1) {
        // The parent is gone; keep serving anyway.
      }
      close(ready_fd);
      if (ready) RedirectStdioToDevNull();
    }
  };
  hooks.on_reload = [&](const Result<uint32_t>& outcome) {
    const std::string spec = status.spec;
    const uint64_t reloads = status.reloads + 1;
    status = StatusOf(spec, config.mountpoint, server, started);
    status.reloads = reloads;
    if (!outcome) status.last_reload_error = outcome.error().message();
    WriteStatusOrWarn(status);
  };
  hooks.on_status_request = [&] {
    if (server.is_catalog()) FillCatalogStatus(server, &status);
    RefreshCounters(server, &status);
    WriteStatusOrWarn(status);
  };
  const int rc = RunService(server, hooks);
  RemoveStatus(config.mountpoint);
  return rc;
}

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

int MountAndServe(const MountConfig& config, const SnapshotFactory& factory,
                  std::unique_ptr<fuse::Server>& server, LogTarget serving_log, int lock_fd);

int RunMount(const MountConfig& config) {
  // FUSE workers allocate only while they list a directory for the first
  // time, and free it all again. With an arena per worker and glibc's 128 KiB
  // trim threshold, that freed memory stayed resident (docs/performance.md,
  // "Daemon memory"). One arena, trimmed from 64 KiB.
  (void)mallopt(M_ARENA_MAX, 1);
  (void)mallopt(M_TRIM_THRESHOLD, 64 << 10);
  RaiseFileLimit();
  if (config.catalog && !config.spec.empty()) {
    return Fail(Error::InvalidArgument("--catalog serves every package of the registries: give "
                                       "only MOUNTPOINT, not a package ('" +
                                       config.spec + "')"),
                kExitConfig);
  }
  if ((config.spec.empty() && !config.catalog) || config.mountpoint.empty()) {
    return Fail(
        Error::InvalidArgument("give SPEC and MOUNTPOINT, or a --config file with 'package' (or "
                               "'lockfile') and 'mountpoint'"),
        kExitConfig);
  }
  SetLogMountpoint(NormalizeMountpoint(config.mountpoint));
  fuse::Options options;
  if (auto r = ApplyFuseOptions(config.mount_options, &options); !r) {
    return Fail(r.error(), kExitConfig);
  }
  if (config.uid >= 0) options.uid = static_cast<uid_t>(config.uid);
  if (config.gid >= 0) options.gid = static_cast<gid_t>(config.gid);
  options.threads = config.threads;

  const LogTarget serving_log = ServingLogTarget(config);
  if (!config.log_file.empty()) {
    if (auto r = OpenLogFile(config.log_file); !r) return Fail(r.error(), kExitFailure);
  }
  auto lock_fd = LockMountpoint(config.mountpoint);
  if (!lock_fd) return Fail(lock_fd.error(), kExitFailure);
  if (auto r = ClearStaleMount(config.mountpoint); !r) return Fail(r.error(), kExitFailure);
  if (auto r = fuse::CheckMountpoint(config.mountpoint, options.nonempty); !r) {
    return Fail(r.error(), kExitFailure);
  }

  if (config.catalog) {
    notify::Status("listing the registries");
    options.fs_name = "catalog";
    auto server = CreateCatalogServer(config, options);
    if (!server) return Fail(server.error(), kExitFailure);
    return MountAndServe(config, SnapshotFactory{}, *server, serving_log, *lock_fd);
  }
  SnapshotFactory factory;
  factory.spec = config.spec;
  factory.resolve_options = ResolveOptionsFor(config);
  factory.snapshot_options.meta_dir = config.no_meta_dir ? "" : config.meta_dir;
  notify::Status("resolving " + config.spec);
  auto snapshot = factory.Build();
  if (!snapshot) return Fail(snapshot.error(), kExitFailure);
  const auto& packages = (*snapshot)->resolution().packages;
  if (!packages.empty()) {
    options.fs_name = packages[0].id;
    SetLogPackage(packages[0].id);
  }

  // The server is the snapshot's only owner: after a reload, the first
  // snapshot must be freed once the kernel forgets its inodes, like any other.
  auto server = fuse::Server::Create(std::move(*snapshot), options);
  if (!server) return Fail(server.error(), kExitFailure);
  return MountAndServe(config, factory, *server, serving_log, *lock_fd);
}

// Mounts `server` and serves it, in the foreground or in a forked daemon.
int MountAndServe(const MountConfig& config, const SnapshotFactory& factory,
                  std::unique_ptr<fuse::Server>& server, LogTarget serving_log, int lock_fd) {
  server->SetFailureReporter([](const std::string& what) { spdlog::error("{}", what); });
  if (auto r = server->Mount(config.mountpoint); !r) return Fail(r.error(), kExitFailure);
  spdlog::debug("mounted {} at {}", server->options().fs_name, config.mountpoint);

  if (config.foreground) return Serve(config, factory, *server, /*ready_fd=*/-1, serving_log);

  if (serving_log == LogTarget::kSyslog && access("/dev/log", W_OK) != 0) {
    spdlog::warn(
        "no syslog socket /dev/log: the daemon's log lines will be lost (--log-file "
        "FILE keeps them)");
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Fail(Error::Io("pipe", errno), kExitFailure);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Fail(Error::Io("fork", errno), kExitFailure);
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

// Command-line values, and which settings were given (they override the file).
struct MountCli {
  MountConfig values;
  std::vector<std::pair<CLI::Option*, const MountSetting*>> flags;
};

// The settings given on the command line: flags, and NAME=VALUE after -o.
Result<std::set<const MountSetting*>> GivenSettings(MountCli* cli) {
  std::set<const MountSetting*> given;
  for (const auto& [opt, setting] : cli->flags) {
    if (opt->count() > 0) given.insert(setting);
  }
  std::vector<const MountSetting*> from_dash_o;
  WEBCFS_RETURN_IF_ERROR(ApplyDashOOptions(cli->values.mount_options, &cli->values, &from_dash_o));
  given.insert(from_dash_o.begin(), from_dash_o.end());
  // -o with settings only leaves the file's FUSE options alone.
  if (cli->values.mount_options.empty()) {
    std::erase_if(given, [](const MountSetting* s) { return s->flag == "-o"; });
  }
  return given;
}

}  // namespace

void AddMountSubcommand(CLI::App& app, int& exit_code) {
  auto cli = std::make_shared<MountCli>();
  CLI::App* cmd = app.add_subcommand(
      "mount", "Resolve a package (or load a lockfile) and mount it read-only at MOUNTPOINT");
  AddSettingFlags(cmd, &cli->values, &cli->flags);
  cmd->callback([cli, &exit_code] {
    const LogTarget target = DetectLogTarget();
    SetupLogging(target, spdlog::level::info);
    auto given = GivenSettings(cli.get());
    if (!given) {
      exit_code = Fail(given.error(), kExitConfig);
      return;
    }
    MountConfig config;
    if (!cli->values.config_file.empty()) {
      if (auto r = ApplyConfigFile(cli->values.config_file, &config); !r) {
        exit_code = Fail(r.error(), kExitConfig);
        return;
      }
    }
    for (const MountSetting* setting : *given) CopySetting(*setting, cli->values, &config);
    // `--catalog MOUNTPOINT`: the one positional argument is the mountpoint.
    if (config.catalog && config.mountpoint.empty()) std::swap(config.spec, config.mountpoint);
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (ec) {
      exit_code = Fail(Error::Io("working directory: " + ec.message()), kExitFailure);
      return;
    }
    MakePathsAbsolute(cwd.string(), &config);
    auto level = ParseLogLevel(config.log_level);
    if (!level) {
      exit_code = Fail(level.error(), kExitConfig);
      return;
    }
    SetupLogging(target, *level);
    exit_code = RunMount(config);
  });
}

}  // namespace webcfs::daemon
