// webcfs: resolve WEBC packages and serve them as a read-only FUSE filesystem.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "daemon/cli/subcommands.h"

int main(int argc, char** argv) {
  CLI::App app{"webcfs: serve WebAssembly (WEBC) packages as a read-only filesystem"};
  app.require_subcommand(1);
  int exit_code = 0;
  // Each subcommand registers itself here (declared in daemon/cli/subcommands.h).
  webcfs::daemon::AddInspectSubcommand(app, exit_code);
  webcfs::daemon::AddResolveSubcommand(app, exit_code);
  webcfs::daemon::AddPackSubcommand(app, exit_code);
  webcfs::daemon::AddIndexSubcommand(app, exit_code);
  webcfs::daemon::AddPushSubcommand(app, exit_code);
  webcfs::daemon::AddMountSubcommand(app, exit_code);
  webcfs::daemon::AddUnmountSubcommand(app, exit_code);
  webcfs::daemon::AddStatusSubcommand(app, exit_code);
  webcfs::daemon::AddReloadSubcommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // Last resort: our code returns Result, but a library may still throw.
    std::fprintf(stderr, "webcfs: fatal: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
