// `webcfs mount SPEC|LOCKFILE MOUNTPOINT`: resolve, build the snapshot, mount,
// then serve — in the background by default.
//
// Everything that can fail for a reason the user can fix (spec, resolution,
// containers, mountpoint, the mount itself) happens before the fork, so the
// command exits non-zero with one message and nothing stays mounted. The
// parent exits 0 only once the kernel mount answers a request, so a script can
// use the mount as soon as the command returns.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/commands.h"
#include "fuse/mountpoint.h"
#include "fuse/options.h"
#include "fuse/server.h"
#include "fuse/snapshot.h"
#include "resolver/resolution.h"

namespace webcfs::daemon {

namespace {

struct MountArgs {
  std::string spec;
  std::string mountpoint;
  std::vector<std::string> registries;
  std::string cache;
  std::vector<std::string> mount_options;
  int64_t uid = -1;
  int64_t gid = -1;
  std::string meta_dir = ".webc";
  bool no_meta_dir = false;
  unsigned threads = 4;
  bool foreground = false;
  bool verify = false;
};

// The server the signal handlers stop. Process state lives in daemon/ only.
std::atomic<fuse::Server*> g_server{nullptr};

void OnTerminate(int) {
  if (fuse::Server* s = g_server.load()) s->RequestExit();
}

void InstallSignalHandlers(fuse::Server* server) {
  g_server = server;
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the session loop must see EINTR and look at the exit flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
  // SIGHUP will mean "reload" (issue 6); until then it must not kill the
  // daemon and leave a dead mount behind.
  sigaction(SIGHUP, &ignore, nullptr);
}

Result<void> ApplyMountOptions(const std::vector<std::string>& list, fuse::Options* o) {
  for (const std::string& item : list) {
    size_t start = 0;
    while (start <= item.size()) {
      const size_t comma = item.find(',', start);
      const std::string opt =
          item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? item.size() + 1 : comma + 1;
      if (opt.empty() || opt == "ro" || opt == "default_permissions") continue;  // always on
      if (opt == "allow_other") {
        o->allow_other = true;
      } else if (opt == "xattr") {
        o->xattr = true;
      } else if (opt == "debug") {
        o->debug = true;
      } else {
        return Error::InvalidArgument("unknown mount option '" + opt +
                                      "' (known: allow_other, xattr, debug, ro)");
      }
    }
  }
  return Ok();
}

void RedirectStdioToDevNull() {
  const int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  dup2(fd, STDIN_FILENO);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  if (fd > STDERR_FILENO) close(fd);
}

// Child side of the background mode: serve, and report readiness through
// `ready_fd` once a stat() of the mountpoint has gone through the kernel and
// been answered by this process.
int ServeInBackground(fuse::Server& server, int ready_fd) {
  setsid();
  if (chdir("/") != 0) {
    // Not fatal: only keeps the old working directory busy.
  }
  const pthread_t main_thread = pthread_self();
  std::thread probe([&server, ready_fd, main_thread] {
    struct stat st;
    const bool ok = stat(server.mountpoint().c_str(), &st) == 0;
    const char byte = ok ? 'R' : 'E';
    if (write(ready_fd, &byte, 1) != 1) {
      // The parent is gone; keep serving anyway.
    }
    close(ready_fd);
    if (ok) {
      RedirectStdioToDevNull();
    } else {
      server.RequestExit();
      pthread_kill(main_thread, SIGTERM);  // wake the session loop
    }
  });
  auto run = server.Run();
  probe.join();
  server.Unmount();
  if (!run) {
    spdlog::error("{}", run.error().message());
    return 1;
  }
  return 0;
}

// Parent side: wait for the child's verdict.
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
  return 1;
}

int RunMount(const MountArgs& args) {
  fuse::Options options;
  if (auto r = ApplyMountOptions(args.mount_options, &options); !r) {
    spdlog::error("{}", r.error().message());
    return 2;
  }
  if (args.uid >= 0) options.uid = static_cast<uid_t>(args.uid);
  if (args.gid >= 0) options.gid = static_cast<gid_t>(args.gid);
  options.threads = args.threads;

  if (auto r = fuse::CheckMountpoint(args.mountpoint); !r) {
    spdlog::error("{}", r.error().message());
    return 1;
  }

  resolver::ResolveOptions ropts;
  ropts.registries = args.registries;
  ropts.cache_dir = args.cache;
  ropts.verify = args.verify;
  auto resolution = resolver::Resolve(args.spec, ropts);
  if (!resolution) {
    spdlog::error("{}", resolution.error().message());
    return 1;
  }
  auto shared = std::make_shared<const resolver::Resolution>(std::move(*resolution));
  fuse::SnapshotOptions sopts;
  sopts.meta_dir = args.no_meta_dir ? "" : args.meta_dir;
  auto snapshot = fuse::Snapshot::Build(shared, sopts);
  if (!snapshot) {
    spdlog::error("{}", snapshot.error().message());
    return 1;
  }
  if (!shared->packages.empty()) options.fs_name = shared->packages[0].id;

  auto server = fuse::Server::Create(*snapshot, options);
  if (!server) {
    spdlog::error("{}", server.error().message());
    return 1;
  }
  if (auto r = (*server)->Mount(args.mountpoint); !r) {
    spdlog::error("{}", r.error().message());
    return 1;
  }
  spdlog::debug("mounted {} at {} ({} entries)", options.fs_name, args.mountpoint,
                (*snapshot)->node_count());

  if (args.foreground) {
    InstallSignalHandlers(server->get());
    auto run = (*server)->Run();
    (*server)->Unmount();
    if (!run) {
      spdlog::error("{}", run.error().message());
      return 1;
    }
    return 0;
  }

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    spdlog::error("pipe: {}", std::strerror(errno));
    return 1;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    spdlog::error("fork: {}", std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    close(pipe_fds[0]);
    InstallSignalHandlers(server->get());
    const int rc = ServeInBackground(**server, pipe_fds[1]);
    server->reset();
    std::fflush(nullptr);
    _exit(rc);
  }
  close(pipe_fds[1]);
  const int rc = WaitForReady(pid, pipe_fds[0], args.mountpoint);
  // The mount belongs to the child now: leave without running destructors
  // (the Server's would unmount it).
  std::fflush(nullptr);
  _exit(rc);
}

}  // namespace

void AddMountCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<MountArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mount", "Resolve a package (or load a lockfile) and mount it read-only at MOUNTPOINT");
  cmd->add_option("spec", args->spec,
                  "package: ./file.webc, sha256:<hex>, ns/name[@req], or a lockfile (*.json)")
      ->required();
  cmd->add_option("mountpoint", args->mountpoint, "an existing, empty directory")->required();
  cmd->add_option("--registry", args->registries,
                  "directory registry (repeatable; first wins on identical ids)");
  cmd->add_option("--cache", args->cache, "content-addressed cache directory");
  cmd->add_option("-o", args->mount_options,
                  "mount options, comma-separated: allow_other, xattr, debug");
  cmd->add_option("--uid", args->uid, "owner reported for every entry (default: the caller's)");
  cmd->add_option("--gid", args->gid, "group reported for every entry (default: the caller's)");
  cmd->add_option("--meta-dir", args->meta_dir, "name of the control directory at the root")
      ->capture_default_str();
  cmd->add_flag("--no-meta-dir", args->no_meta_dir, "do not show the control directory");
  cmd->add_option("--threads", args->threads, "FUSE worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_flag("-f,--foreground", args->foreground, "stay attached instead of daemonizing");
  cmd->add_flag("--verify", args->verify, "verify every container checksum before mounting");
  cmd->callback([args, &exit_code] {
    auto logger = spdlog::stderr_logger_st("webcfs-mount");
    logger->set_pattern("webcfs: %v");
    spdlog::set_default_logger(logger);
    exit_code = RunMount(*args);
  });
}

}  // namespace webcfs::daemon
