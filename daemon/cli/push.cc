// `webcfs push FILE.webc oci://HOST/PREFIX`: uploads a package to an OCI
// registry (resolver/oci.h) under its version's tag.
#include <cstdio>
#include <memory>
#include <string>

#include "daemon/cli/subcommands.h"
#include "resolver/http.h"
#include "resolver/oci.h"

namespace webcfs::daemon {

void AddPushSubcommand(CLI::App& app, int& exit_code) {
  struct Args {
    std::string file;
    std::string registry;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "push", "Upload a named WEBC package to an OCI registry (oci:// or oci+http://)");
  cmd->add_option("FILE", args->file, "the .webc container to upload")->required();
  cmd->add_option("REGISTRY", args->registry, "oci://HOST[:PORT]/PREFIX or oci+http://...")
      ->required();
  cmd->add_flag("--force", args->force, "replace a version the registry has with other bytes");
  cmd->callback([args, &exit_code] {
    resolver::HttpOptions options;
    options.registry_auth = true;
    auto http = resolver::HttpClient::Create(std::move(options));
    Result<std::string> done =
        http ? resolver::PushToOci(args->file, args->registry, args->force, **http)
             : Result<std::string>(std::move(http).error());
    if (!done) {
      std::fprintf(stderr, "webcfs push: %s\n", done.error().message().c_str());
      exit_code = 1;
      return;
    }
    std::printf("%s\n", done->c_str());
    exit_code = 0;
  });
}

}  // namespace webcfs::daemon
