// `webcfs pack DIR -o OUT.webc`: wasmer.toml package directory → WEBC v3.
#include "resolver/pack/pack.h"

#include <cstdio>
#include <memory>
#include <string>

#include "daemon/cli/subcommands.h"

namespace webcfs::daemon {

void AddPackSubcommand(CLI::App& app, int& exit_code) {
  struct Args {
    std::string dir;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Build a WEBC v3 container from a package directory with a wasmer.toml");
  cmd->add_option("DIR", args->dir, "package directory (contains wasmer.toml)")->required();
  cmd->add_option("-o,--output", args->out, "container file to write")->required();
  cmd->callback([args, &exit_code] {
    auto r = pack::PackDirectory(args->dir, args->out);
    if (!r) {
      std::fprintf(stderr, "webcfs pack: %s\n", r.error().message().c_str());
      exit_code = 1;
      return;
    }
    exit_code = 0;
  });
}

}  // namespace webcfs::daemon
