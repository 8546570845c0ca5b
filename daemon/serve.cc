#include "daemon/serve.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

#include "daemon/catalog_mount.h"
#include "daemon/file_limit.h"
#include "daemon/service.h"
#include "daemon/status_file.h"
#include "resolver/lazy_source.h"

namespace webcfs::daemon {
namespace {

void RedirectStdioToDevNull() {
  const int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  dup2(fd, STDIN_FILENO);
  dup2(fd, STDOUT_FILENO);
  dup2(fd, STDERR_FILENO);
  if (fd > STDERR_FILENO) close(fd);
}

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
  const resolver::LazyCounters& lazy = resolver::GlobalLazyCounters();
  s->bytes_fetched = lazy.bytes_fetched.load();
  s->files_verified = lazy.files_verified.load();
  s->fetch_errors = lazy.fetch_errors.load();
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

}  // namespace

int Serve(const MountConfig& config, const SnapshotFactory& factory, fuse::Server& server,
          int ready_fd, LogTarget serving_log) {
  const int64_t started = static_cast<int64_t>(std::time(nullptr));
  DaemonStatus status = StatusOf(config.spec, config.mountpoint, server, started);
  ServiceHooks hooks;
  hooks.rebuild = [&factory] { return factory.Build(/*ask_again=*/true); };
  hooks.on_ready = [&](bool ready) {
    if (ready) {
      resolver::StartLazyBackgroundWork();  // after the fork: threads do not survive it
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

}  // namespace webcfs::daemon
