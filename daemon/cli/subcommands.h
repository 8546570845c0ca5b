// Subcommands of the `webcfs` executable. Each Add*Subcommand registers one
// CLI11 subcommand and its callback; the callback sets `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace webcfs::daemon {

// webcfs inspect FILE [--json] [--verify]
void AddInspectSubcommand(CLI::App& app, int& exit_code);
// webcfs resolve SPEC|LOCKFILE [--registry DIR]... [--cache DIR] [--lock OUT.json]
void AddResolveSubcommand(CLI::App& app, int& exit_code);
// webcfs mount SPEC|LOCKFILE MOUNTPOINT [--registry DIR]... [-o OPT,...] [--foreground] ...
void AddMountSubcommand(CLI::App& app, int& exit_code);
// webcfs unmount MOUNTPOINT [--lazy]
void AddUnmountSubcommand(CLI::App& app, int& exit_code);
// webcfs status MOUNTPOINT|--config FILE [--json]
void AddStatusSubcommand(CLI::App& app, int& exit_code);
// webcfs reload MOUNTPOINT|--config FILE: SIGHUP the daemon, wait for the outcome
void AddReloadSubcommand(CLI::App& app, int& exit_code);

// webcfs pack DIR -o OUT.webc
void AddPackSubcommand(CLI::App& app, int& exit_code);
// webcfs push FILE.webc oci://HOST/PREFIX [--force] (daemon/cli/push.cc)
void AddPushSubcommand(CLI::App& app, int& exit_code);
// webcfs index DIR: write DIR/index.json for serving DIR as a static mirror
void AddIndexSubcommand(CLI::App& app, int& exit_code);

}  // namespace webcfs::daemon
