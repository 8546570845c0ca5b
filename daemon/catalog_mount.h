// The daemon's side of a catalog mount (`webcfs mount --catalog MOUNTPOINT`,
// fuse/catalog.h): the package provider over the configured registries, and
// how the service describes and reloads a catalog.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "daemon/status_file.h"
#include "fuse/options.h"
#include "fuse/server.h"
#include "webc/base/result.h"

namespace webcfs::daemon {

// The status file's `spec` of a catalog mount.
inline constexpr std::string_view kCatalogSpec = "catalog";

// Lists the registries of `config` (an error names the one that fails) and
// creates the catalog server; nothing is mounted yet.
Result<std::unique_ptr<fuse::Server>> CreateCatalogServer(const MountConfig& config,
                                                          const fuse::Options& options);

// "catalog, 3 packages loaded" (STATUS= and log lines).
std::string DescribeCatalog(const fuse::Server& server);

// The loaded packages as the status file lists them: "ns/name@^1 = ns/name@1.2.3",
// or the package id alone when the name is its exact version.
void FillCatalogStatus(const fuse::Server& server, DaemonStatus* status);

}  // namespace webcfs::daemon
