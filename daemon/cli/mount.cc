// `webcfs mount SPEC|LOCKFILE MOUNTPOINT` (or `--config FILE`): the command
// line and the configuration file make one MountConfig (settings given on the
// command line override the file's), then daemon/mount.h mounts and serves.
#include "daemon/mount.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "daemon/cli/subcommands.h"
#include "daemon/config.h"
#include "daemon/logging.h"
#include "daemon/mount_settings.h"

namespace webcfs::daemon {
namespace {

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
      exit_code = FailStartup(given.error(), kExitConfig);
      return;
    }
    MountConfig config;
    if (!cli->values.config_file.empty()) {
      if (auto r = ApplyConfigFile(cli->values.config_file, &config); !r) {
        exit_code = FailStartup(r.error(), kExitConfig);
        return;
      }
    }
    for (const MountSetting* setting : *given) CopySetting(*setting, cli->values, &config);
    // `--catalog MOUNTPOINT`: the one positional argument is the mountpoint.
    if (config.catalog && config.mountpoint.empty()) std::swap(config.spec, config.mountpoint);
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (ec) {
      exit_code = FailStartup(Error::Io("working directory: " + ec.message()), kExitFailure);
      return;
    }
    MakePathsAbsolute(cwd.string(), &config);
    auto level = ParseLogLevel(config.log_level);
    if (!level) {
      exit_code = FailStartup(level.error(), kExitConfig);
      return;
    }
    SetupLogging(target, *level);
    exit_code = RunMount(config);
  });
}

}  // namespace webcfs::daemon
