// What a mount serves: resolve the specifier, build the snapshot. Run once
// before mounting and again on every reload.
#pragma once

#include <memory>
#include <string>

#include "daemon/config.h"
#include "fuse/snapshot.h"
#include "resolver/resolution.h"
#include "webc/base/result.h"

namespace webcfs::daemon {

// What a mount serves, built from the configuration; also what a reload
// builds again (re-resolving, so registry files added or removed count).
struct SnapshotFactory {
  std::string spec;
  resolver::ResolveOptions resolve_options;
  fuse::SnapshotOptions snapshot_options;

  // `ask_again`: remote registries are asked again, whatever answers are
  // stored (a reload must see what was published since).
  // Warnings are logged; errors name the file-descriptor limit when it was
  // the cause.
  Result<std::shared_ptr<const fuse::Snapshot>> Build(bool ask_again = false) const;
};

// The factory for a mount's configuration.
SnapshotFactory SnapshotFactoryFor(const MountConfig& config);

}  // namespace webcfs::daemon
