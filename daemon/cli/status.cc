// `webcfs status MOUNTPOINT [--json]` and `webcfs reload MOUNTPOINT|--config
// FILE`: talk to the daemon serving a mountpoint through its status file
// (daemon/status_file.h) and, for reload, SIGHUP.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "daemon/catalog_mount.h"
#include "daemon/cli/subcommands.h"
#include "daemon/config.h"
#include "daemon/status_file.h"

namespace webcfs::daemon {

namespace {

struct TargetArgs {
  std::string mountpoint;
  std::string config_file;
  bool json = false;
  unsigned timeout_seconds = 300;
};

// The mountpoint named directly or by the configuration file the daemon runs with.
Result<std::string> MountpointOf(const TargetArgs& args) {
  if (!args.mountpoint.empty()) return args.mountpoint;
  if (args.config_file.empty()) return Error::InvalidArgument("give MOUNTPOINT or --config FILE");
  MountConfig config;
  WEBCFS_RETURN_IF_ERROR(ApplyConfigFile(args.config_file, &config));
  if (config.mountpoint.empty()) {
    return Error::InvalidArgument(args.config_file + ": no 'mountpoint'");
  }
  return config.mountpoint;
}

std::string Duration(int64_t seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lldd %02lld:%02lld:%02lld",
                static_cast<long long>(seconds / 86400),
                static_cast<long long>(seconds / 3600 % 24),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

// Asks the daemon (SIGUSR1) to rewrite its status file with fresh counters and
// waits briefly for it. Without permission to signal it (another user's
// daemon) or without an answer, the last written counters are shown; `fresh`
// tells which.
// A daemon found gone when signalled is an error (its stale file is removed).
Result<DaemonStatus> RefreshedStatus(const std::string& mountpoint, DaemonStatus last,
                                     bool* fresh) {
  *fresh = false;
  if (auto r = SignalDaemon(last, SIGUSR1); !r) {
    if (r.error().code() == Error::Code::kNotFound) return std::move(r.error());
    return last;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto now = ReadStatus(mountpoint);
    if (now && now->updated_ms != last.updated_ms) {
      *fresh = true;
      return std::move(*now);
    }
  }
  return last;
}

int RunStatus(const TargetArgs& args) {
  auto mountpoint = MountpointOf(args);
  if (!mountpoint) {
    std::fprintf(stderr, "webcfs: %s\n", mountpoint.error().message().c_str());
    return 2;
  }
  auto last = ReadStatus(*mountpoint);
  if (!last) {
    std::fprintf(stderr, "webcfs: %s\n", last.error().message().c_str());
    return 1;
  }
  bool fresh = false;
  auto status = RefreshedStatus(*mountpoint, std::move(*last), &fresh);
  if (!status) {
    std::fprintf(stderr, "webcfs: %s\n", status.error().message().c_str());
    return 1;
  }
  const DaemonStatus* s = &*status;
  const int64_t uptime = static_cast<int64_t>(std::time(nullptr)) - s->started;
  if (args.json) {
    nlohmann::ordered_json j = {
        {"mountpoint", s->mountpoint},
        {"pid", s->pid},
        {"spec", s->spec},
        {"package", s->package},
        {"generation", s->generation},
        {"packages", s->packages},
        {"uptime_seconds", uptime},
        {"reloads", s->reloads},
        {"last_reload_error", s->last_reload_error ? nlohmann::ordered_json(*s->last_reload_error)
                                                   : nlohmann::ordered_json()},
        {"counters",
         {{"lookups", s->lookups},
          {"reads", s->reads},
          {"bytes_read", s->bytes_read},
          {"errors", s->errors},
          {"bytes_fetched", s->bytes_fetched},
          {"files_verified", s->files_verified},
          {"fetch_errors", s->fetch_errors}}},
        {"counters_updated_ms", s->updated_ms},
        {"counters_fresh", fresh},
        {"log", s->log}};
    std::printf("%s\n",
                j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("mountpoint:  %s\n", s->mountpoint.c_str());
  std::printf("daemon pid:  %lld\n", static_cast<long long>(s->pid));
  std::printf("spec:        %s\n", s->spec.c_str());
  if (s->spec != kCatalogSpec) {  // a catalog has no package or generation of its own
    std::printf("package:     %s\n", s->package.c_str());
    std::printf("generation:  %u\n", s->generation);
  }
  std::printf("uptime:      %s\n", Duration(uptime).c_str());
  std::printf("reloads:     %llu%s%s\n", static_cast<unsigned long long>(s->reloads),
              s->last_reload_error ? " (last failed: " : "",
              s->last_reload_error ? (*s->last_reload_error + ")").c_str() : "");
  std::printf(
      "requests:    %llu lookups, %llu reads (%llu bytes), %llu errors%s\n",
      static_cast<unsigned long long>(s->lookups), static_cast<unsigned long long>(s->reads),
      static_cast<unsigned long long>(s->bytes_read), static_cast<unsigned long long>(s->errors),
      fresh ? "" : " (as last written; the daemon did not answer SIGUSR1)");
  if (s->bytes_fetched + s->fetch_errors > 0) {
    std::printf("fetched:     %llu bytes, %llu files verified, %llu failed fetches\n",
                static_cast<unsigned long long>(s->bytes_fetched),
                static_cast<unsigned long long>(s->files_verified),
                static_cast<unsigned long long>(s->fetch_errors));
  }
  if (!s->log.empty()) std::printf("logs to:     %s\n", s->log.c_str());
  std::printf("packages:    %zu\n", s->packages.size());
  for (const std::string& p : s->packages) std::printf("  %s\n", p.c_str());
  return 0;
}

// Synchronous: returns once the daemon has finished the reload (ExecReload).
int RunReload(const TargetArgs& args) {
  auto mountpoint = MountpointOf(args);
  if (!mountpoint) {
    std::fprintf(stderr, "webcfs: %s\n", mountpoint.error().message().c_str());
    return 2;
  }
  auto before = ReadStatus(*mountpoint);
  if (!before) {
    std::fprintf(stderr, "webcfs: %s\n", before.error().message().c_str());
    return 1;
  }
  if (auto r = SignalDaemon(*before, SIGHUP); !r) {
    std::fprintf(stderr, "webcfs: %s\n", r.error().message().c_str());
    return 1;
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(args.timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = ReadStatus(*mountpoint);
    if (!now) {
      std::fprintf(stderr, "webcfs: %s\n", now.error().message().c_str());
      return 1;
    }
    if (now->reloads == before->reloads) continue;
    if (now->last_reload_error) {
      std::fprintf(stderr, "webcfs: %s: reload failed, still serving generation %u: %s\n",
                   now->mountpoint.c_str(), now->generation, now->last_reload_error->c_str());
      return 1;
    }
    if (now->spec == kCatalogSpec) {
      std::printf("%s: serving the catalog, %zu packages loaded\n", now->mountpoint.c_str(),
                  now->packages.size());
    } else {
      std::printf("%s: serving %s, generation %u\n", now->mountpoint.c_str(), now->package.c_str(),
                  now->generation);
    }
    return 0;
  }
  std::fprintf(stderr, "webcfs: %s: no reload result after %u s\n", mountpoint->c_str(),
               args.timeout_seconds);
  return 1;
}

void AddTargetOptions(CLI::App* cmd, TargetArgs& args) {
  cmd->add_option("mountpoint", args.mountpoint, "where the package is mounted");
  cmd->add_option("--config", args.config_file, "the daemon's configuration file (its mountpoint)");
}

}  // namespace

void AddStatusSubcommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<TargetArgs>();
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Show what a webcfs daemon serves: package, generation, packages, uptime, request counters");
  AddTargetOptions(cmd, *args);
  cmd->add_flag("--json", args->json, "machine-readable output");
  cmd->callback([args, &exit_code] { exit_code = RunStatus(*args); });
}

void AddReloadSubcommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<TargetArgs>();
  CLI::App* cmd = app.add_subcommand(
      "reload",
      "Re-resolve (or re-read the lockfile) and swap the served tree atomically; waits for it");
  AddTargetOptions(cmd, *args);
  cmd->add_option("--timeout", args->timeout_seconds, "seconds to wait for the daemon")
      ->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = RunReload(*args); });
}

}  // namespace webcfs::daemon
