// `webcfs resolve SPEC|LOCKFILE [--registry DIR|URL]... [--cache DIR] [--lock OUT.json]`:
// resolves a package tree and prints its lockfile (or writes it to OUT.json).
// Warnings go to stderr as they happen; a failure is one line on stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "daemon/cli/subcommands.h"
#include "daemon/cli/write_file.h"
#include "daemon/config.h"
#include "resolver/resolution.h"

namespace webcfs::daemon {
namespace {

struct ResolveArgs {
  std::string spec;
  std::vector<std::string> registries;
  std::string registry_token;
  bool offline = false;
  std::string cache;
  bool no_cache = false;
  std::string lock;
  bool verify = false;
  unsigned jobs = resolver::kDefaultLoadWorkers;
};

int Run(const ResolveArgs& args) {
  resolver::ResolveOptions options;
  options.registries = args.registries;
  options.registry_token = RegistryToken(args.registry_token);
  options.offline = args.offline;
  options.cache_dir = args.cache;
  options.use_cache = !args.no_cache;
  options.verify = args.verify;
  options.load_workers = args.jobs;
  options.on_warning = [](const std::string& w) {
    std::fprintf(stderr, "webcfs: warning: %s\n", w.c_str());
  };
  auto r = resolver::Resolve(args.spec, options);
  if (!r) {
    std::fprintf(stderr, "webcfs: %s\n", r.error().message().c_str());
    return 1;
  }
  std::string json = r->ToLockfileJson();
  if (args.lock.empty()) {
    std::fwrite(json.data(), 1, json.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  auto written = WriteFileAtomically(args.lock, json);
  if (!written) {
    std::fprintf(stderr, "webcfs: %s\n", written.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void AddResolveSubcommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ResolveArgs>();
  CLI::App* cmd = app.add_subcommand(
      "resolve", "Resolve a package and its dependencies; print the lockfile (JSON)");
  cmd->add_option("spec", args->spec,
                  "ns/name[@requirement], ./file.webc[.zst], sha256:<hex>, or a lockfile *.json")
      ->required();
  cmd->add_option("--registry", args->registries,
                  "Registry: a directory of *.webc files, a static mirror URL, or a Wasmer "
                  "registry API ('wasmer' or a URL ending in /graphql) (repeatable; the first "
                  "wins on equal ids)");
  cmd->add_option("--registry-token", args->registry_token,
                  "Bearer token for remote registries (default: $WASMER_TOKEN)");
  cmd->add_flag("--offline", args->offline, "Use only the cache: never touch the network");
  cmd->add_option("--cache", args->cache,
                  "Content-addressed cache directory (default: $XDG_CACHE_HOME/webcfs, "
                  "/var/cache/webcfs as root, else ~/.cache/webcfs)");
  cmd->add_flag("--no-cache", args->no_cache, "Read packages in place instead of cached copies");
  cmd->add_option("--lock", args->lock, "Write the lockfile to this file instead of stdout");
  cmd->add_flag("--verify", args->verify, "Check every checksum the containers carry");
  cmd->add_option("-j,--jobs", args->jobs, "Packages loaded in parallel")
      ->check(CLI::Range(1u, 64u));
  cmd->callback([args, &exit_code] { exit_code = Run(*args); });
}

}  // namespace webcfs::daemon
