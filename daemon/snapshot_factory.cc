#include "daemon/snapshot_factory.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "daemon/file_limit.h"

namespace webcfs::daemon {

Result<std::shared_ptr<const fuse::Snapshot>> SnapshotFactory::Build(bool ask_again) const {
  resolver::ResolveOptions options = resolve_options;
  if (ask_again && !options.offline) options.answer_ttl_seconds = 0;
  auto resolution = resolver::Resolve(spec, options);
  if (!resolution) return WithFileLimit(std::move(resolution.error()));
  for (const std::string& w : resolution->warnings) spdlog::warn("{}", w);
  auto shared = std::make_shared<const resolver::Resolution>(std::move(*resolution));
  auto snapshot = fuse::Snapshot::Build(std::move(shared), snapshot_options);
  if (!snapshot) return WithFileLimit(std::move(snapshot.error()));
  return snapshot;
}

SnapshotFactory SnapshotFactoryFor(const MountConfig& config) {
  SnapshotFactory factory;
  factory.spec = config.spec;
  factory.resolve_options = ResolveOptionsFor(config);
  factory.snapshot_options.meta_dir = config.no_meta_dir ? "" : config.meta_dir;
  return factory;
}

}  // namespace webcfs::daemon
