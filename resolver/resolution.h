// Resolution: a fully resolved, hash-pinned package tree (docs/design.md,
// "Package identity", "Sources", "Resolution"). Produced by Resolve() from a
// specifier or by LoadLockfile() from a lockfile; consumed by fuse/ to build a
// snapshot and by `webcfs resolve` to print the lockfile.
//
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "webc/container.h"
#include "webc/result.h"

namespace webcfs::resolver {

struct Edge {
  std::string alias;        // the `use` key in the requiring manifest
  std::string requirement;  // the specifier as written ("ns/name@^1", or "<embedded>")
  size_t package = 0;       // index into Resolution::packages
};

struct ResolvedPackage {
  std::string id;                  // "ns/name@1.2.3" or "sha256:<64 hex>"
  std::string source;              // where it came from: registry file path, local path
  std::string webc_sha256;         // hex SHA-256 of the container file
  std::vector<Edge> dependencies;  // manifest order
  std::shared_ptr<const webc::Container> container;
};

// One filesystem mapping, after `from` aliases are resolved.
struct Mapping {
  size_t package = 0;             // package whose manifest declares the mapping
  size_t volume_package = 0;      // package owning the volume (differs with `from`)
  std::string volume;             // volume name in volume_package's container
  std::string volume_path = "/";  // directory inside the volume (v2 original_path), normalized
  std::string mount_path;         // absolute, normalized ("/", "/lib", ...)
};

struct CommandEntry {
  std::string name;
  size_t package = 0;       // package that declares the command
  size_t atom_package = 0;  // package that holds the atom (differs with `dependency`)
  std::string atom;         // atom name in atom_package's container
  std::string runner;
};

struct Resolution {
  // Precedence order (design.md step 5): packages[0] is the root.
  std::vector<ResolvedPackage> packages;
  std::vector<Mapping> mappings;       // precedence order, then manifest order
  std::vector<CommandEntry> commands;  // first occurrence in precedence order wins
  std::optional<std::string> entrypoint;

  // The lockfile: stable key order so diffs are meaningful.
  std::string ToLockfileJson() const;
};

struct ResolveOptions {
  std::vector<std::string> registries;  // directory registries, first wins on identical ids
  std::string cache_dir;                // content-addressed cache; empty = default location
  bool verify = false;                  // verify every container's checksums on load
  unsigned load_workers = 4;            // parallel container loading
};

// Resolves a specifier (path, sha256:<hex>, [registry:]ns/name[@req]) or, when
// `spec` names a lockfile (*.json), loads it and verifies every hash.
Result<Resolution> Resolve(const std::string& spec, const ResolveOptions& options);

}  // namespace webcfs::resolver
