// Catalog mounts: one mount that shows every package of its sources, as
// MNT/<namespace>/<name>@<version>/ (docs/filesystem.md, "Catalog mounts").
//
// The catalog's own tree is two levels of directories: the root lists the
// namespaces, a namespace lists `name@version` for every version a listable
// source offers (and every package loaded so far). Any other name in a
// namespace is looked up: `name@1.2.3` (exactly that version), `name@REQ`
// (`@1`, `@^1.2`, `@~1.2.3`) or `name` (the newest release). The first
// lookup of a name resolves it on one of the catalog's threads (the FUSE
// worker that asked is free meanwhile, and concurrent lookups of the name
// wait for the same resolution) and serves the package tree as a Snapshot
// of its own, under a generation of its own (fuse/inode.h). A tree the
// kernel has forgotten for longer than `idle` is dropped; its inode numbers
// are never used again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fuse/snapshot.h"
#include "webc/base/result.h"

namespace webcfs::fuse {

// Where a catalog's packages come from (daemon/ implements it over the
// resolver). Build() is called on the catalog's threads, concurrently for
// different names; List() on the thread that creates or reloads the catalog.
class PackageProvider {
 public:
  virtual ~PackageProvider() = default;
  struct Listing {
    std::vector<std::string> ids;  // "ns/name@1.2.3" from every source that can list
    bool lookup_only = false;      // a source answers names it cannot list
  };
  virtual Result<Listing> List() = 0;
  // The tree of `spec` ("ns/name@=1.2.3", "ns/name@^1", "ns/name"). NotFound
  // when nothing matches the root; any other error is the package's failure
  // (a missing dependency, a registry that failed, a damaged container).
  virtual Result<std::shared_ptr<const Snapshot>> Build(const std::string& spec) = 0;
};

struct CatalogOptions {
  // A package tree the kernel has forgotten (every inode) for this long is dropped.
  std::chrono::milliseconds idle{std::chrono::minutes(10)};
  // Threads that resolve and load packages for lookups.
  unsigned resolve_threads = 4;
  // Told once per name and reload when a name fails to resolve (other than
  // "no such package"); called on a catalog thread.
  std::function<void(const std::string& what)> report_failure;
};

// A name the catalog serves a tree for (`webcfs status`).
struct CatalogEntry {
  std::string path;     // "ns/name@^1", as looked up
  std::string package;  // the root package it shows: "ns/name@1.2.3"
  uint64_t kernel_references = 0;
};

}  // namespace webcfs::fuse
