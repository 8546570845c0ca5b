// `webcfs index DIR`: writes DIR/index.json (resolver/index_file.h), so that
// any web server can serve DIR as a static mirror, and so that webcfs reads
// DIR from the index instead of opening every file.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "daemon/cli/subcommands.h"
#include "daemon/cli/write_file.h"
#include "resolver/index_file.h"
#include "resolver/resolution.h"

namespace webcfs::daemon {
namespace {

int Run(const std::string& dir) {
  std::vector<std::string> skipped;
  auto text = resolver::BuildIndexFile(dir, &skipped);
  for (const std::string& s : skipped) std::fprintf(stderr, "webcfs: warning: %s\n", s.c_str());
  if (!text) {
    std::fprintf(stderr, "webcfs: %s\n", text.error().message().c_str());
    return 1;
  }
  auto written = WriteFileAtomically(dir + "/index.json", *text);
  if (!written) {
    std::fprintf(stderr, "webcfs: %s\n", written.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddIndexSubcommand(CLI::App& app, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "index", "Write DIR/index.json, the listing a static mirror of DIR is read from");
  cmd->add_option("dir", *dir, "a directory registry of *.webc files")->required();
  cmd->callback([dir, &exit_code] { exit_code = Run(*dir); });
}

}  // namespace webcfs::daemon
