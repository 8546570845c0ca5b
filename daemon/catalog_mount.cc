#include "daemon/catalog_mount.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <utility>

#include "daemon/file_limit.h"
#include "daemon/logging.h"
#include "fuse/catalog.h"
#include "fuse/snapshot.h"
#include "resolver/listing.h"
#include "resolver/resolution.h"

namespace webcfs::daemon {

namespace {

using Clock = std::chrono::steady_clock;

class RegistryProvider : public fuse::PackageProvider {
 public:
  RegistryProvider(resolver::ResolveOptions resolve, fuse::SnapshotOptions snapshot)
      : resolve_(std::move(resolve)), snapshot_(std::move(snapshot)) {}

  // The first listing may use stored registry answers; every later one (a
  // reload) asks the registries again.
  Result<Listing> List() override {
    resolver::ResolveOptions options = resolve_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (listed_ && !options.offline) options.answer_ttl_seconds = 0;
      listed_ = true;
    }
    auto listed = resolver::ListRegistries(options);
    if (!listed) return WithFileLimit(std::move(listed.error()));
    for (const std::string& w : listed->warnings) spdlog::warn("{}", w);
    {
      std::lock_guard<std::mutex> lock(mu_);
      listed_at_ = Clock::now();
      // Said once: a registry that does not list will not on a reload either.
      for (std::string& why : listed->unlisted) {
        if (unlisted_.insert(why).second) spdlog::warn("{}", why);
      }
    }
    return Listing{std::move(listed->ids), listed->lookup_only};
  }

  // Answers stored before the last listing are not used: a name resolved
  // after a reload sees what the registries say since.
  Result<std::shared_ptr<const fuse::Snapshot>> Build(const std::string& spec) override {
    resolver::ResolveOptions options = resolve_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto age =
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - listed_at_).count();
      if (!options.offline) options.answer_ttl_seconds = std::min(options.answer_ttl_seconds, age);
    }
    options.on_warning = [&spec](const std::string& w) { spdlog::warn("{}: {}", spec, w); };
    auto resolution = resolver::Resolve(spec, options);
    if (!resolution) return WithFileLimit(std::move(resolution.error()));
    auto shared = std::make_shared<const resolver::Resolution>(std::move(*resolution));
    auto snapshot = fuse::Snapshot::Build(std::move(shared), snapshot_);
    if (!snapshot) return WithFileLimit(std::move(snapshot.error()).With(spec));
    spdlog::debug("loaded {}", spec);
    return snapshot;
  }

 private:
  const resolver::ResolveOptions resolve_;
  const fuse::SnapshotOptions snapshot_;
  std::mutex mu_;
  bool listed_ = false;             // guarded by mu_
  Clock::time_point listed_at_{};   // guarded by mu_
  std::set<std::string> unlisted_;  // guarded by mu_; registries said not to list
};

}  // namespace

Result<std::unique_ptr<fuse::Server>> CreateCatalogServer(const MountConfig& config,
                                                          const fuse::Options& options) {
  resolver::ResolveOptions resolve = ResolveOptionsFor(config);
  fuse::SnapshotOptions snapshot;
  snapshot.meta_dir = config.no_meta_dir ? "" : config.meta_dir;
  fuse::CatalogOptions catalog;
  catalog.idle = std::chrono::seconds(config.catalog_idle);
  catalog.report_failure = [](const std::string& what) { spdlog::error("{}", what); };
  auto provider = std::make_shared<RegistryProvider>(std::move(resolve), std::move(snapshot));
  return fuse::Server::CreateCatalog(std::move(provider), catalog, options);
}

std::string DescribeCatalog(const fuse::Server& server) {
  const size_t n = server.CatalogEntries().size();
  return "catalog, " + std::to_string(n) + (n == 1 ? " package" : " packages") + " loaded";
}

void FillCatalogStatus(const fuse::Server& server, DaemonStatus* status) {
  status->spec = kCatalogSpec;
  status->package.clear();
  status->packages.clear();
  for (const fuse::CatalogEntry& e : server.CatalogEntries()) {
    status->packages.push_back(e.path == e.package ? e.package : e.path + " = " + e.package);
  }
}

}  // namespace webcfs::daemon
