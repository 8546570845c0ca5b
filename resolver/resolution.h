// Resolution: a fully resolved, hash-pinned package tree (docs/architecture.md,
// "Package identity and specifiers", "Sources", "Resolution"). Produced by Resolve() from a
// specifier or by LoadLockfile() from a lockfile; consumed by fuse/ to build a
// snapshot and by `webcfs resolve` to print the lockfile.
//
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "webc/base/result.h"
#include "webc/container.h"

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
  std::string header_sha256;       // v3: hex header digest (webc::HeaderDigest); else empty
  uint64_t webc_size = 0;          // v3: the container's size in bytes (a lazy open needs it)
  std::vector<Edge> dependencies;  // manifest order
  std::shared_ptr<const webc::Container> container;
  // The file `container` reads: the private, verified copy in the content
  // cache (docs/resolution.md), or `source` itself when caching is off.
  std::string container_path;
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
  // Precedence order (docs/architecture.md, Resolution step 5): packages[0] is the root.
  std::vector<ResolvedPackage> packages;
  std::vector<Mapping> mappings;       // precedence order, then manifest order
  std::vector<CommandEntry> commands;  // first occurrence in precedence order wins
  std::optional<std::string> entrypoint;
  // Things the user should know that did not stop resolution (skipped
  // registry files, commands whose atom is missing, ...). Not in the lockfile.
  std::vector<std::string> warnings;

  // The lockfile: stable key order so diffs are meaningful.
  std::string ToLockfileJson() const;
};

inline constexpr unsigned kDefaultLoadWorkers = 4;
// Downloads and registry queries wait on round trips, not on the CPU: a
// tree's packages (and a level's names) are fetched this many at once,
// whatever load_workers says.
inline constexpr unsigned kParallelDownloads = 16;

struct ResolveOptions {
  // Directories, static mirrors (http(s) URLs) and Wasmer registry APIs
  // ("wasmer", URLs ending in /graphql); first wins on identical ids.
  std::vector<std::string> registries;
  // Sent as `Authorization: Bearer` to remote registries' hosts and to the
  // download hosts a Wasmer registry names.
  std::string registry_token;
  bool offline = false;  // use only the cache and stored answers; never touch the network
  // Remote registries' answers younger than this are used without asking
  // again (resolver/answers.h); 0 asks every time (a reload does).
  int64_t answer_ttl_seconds = 600;
  // HTTP: a transfer slower than 1 byte/s for this long fails; retries of
  // connection errors, 429 and 5xx.
  uint32_t http_timeout_ms = 30'000;
  int http_retries = 3;
  std::string cache_dir;  // content-addressed cache; empty = default location
  // Least-recently-used entries are evicted once a resolution is loaded,
  // until the cache's entries take at most this many bytes; entries that a
  // live process serves stay. 0: no limit.
  uint64_t cache_max_bytes = 0;
  // Off: serve registry files in place (pread, so no SIGBUS, but a file
  // rewritten under a live mount is seen); `.webc.zst` is then inflated in memory.
  bool use_cache = true;
  bool verify = false;  // verify every container's checksums on load
  // Remote v3 packages whose registry gives a header digest are mounted
  // before they are downloaded, each file fetched and checked on first read
  // (resolver/lazy_source.h). Off, or with `verify`: downloaded whole first.
  bool lazy = true;
  // Lazy packages: once the mount answers (StartLazyBackgroundWork), fetch
  // every file not yet read in the background, then become a whole entry.
  bool prefetch = false;
  unsigned load_workers = kDefaultLoadWorkers;  // parallel container loading
  // `.webc.zst` packages: refuse (ResourceLimit, naming the file) to inflate
  // one past this many bytes: a zstd bomb costs at most this much cache space
  // (or memory, without the cache).
  uint64_t max_decompressed_size = webc::kMaxDecompressedSize;
  // Called with each warning as it happens (also on failure, when no
  // Resolution is returned); warnings are collected in Resolution::warnings too.
  std::function<void(const std::string&)> on_warning;
};

// Resolves a specifier (path, sha256:<hex>, [registry:]ns/name[@req]) or, when
// `spec` names a lockfile (*.json), loads it and verifies every hash.
Result<Resolution> Resolve(const std::string& spec, const ResolveOptions& options);

// Loads a lockfile without resolving: every container is located (its source
// path, else the cache by sha256) and verified against the recorded sha256;
// the graph, mappings and commands must be what the packages declare.
Result<Resolution> LoadLockfile(const std::string& path, const ResolveOptions& options);
// The same from lockfile text; `name` is used in error messages.
Result<Resolution> ParseLockfile(const std::string& json, const std::string& name,
                                 const ResolveOptions& options);

// Checks one package's own `fs` mappings without resolving anything (for
// `webcfs inspect`): mount paths and original_path normalize (docs/resolution.md,
// "Filesystem mappings"), `from` names one of its `use` aliases, and a mapping of its
// own volume names an existing volume and, with original_path, a directory in
// it. Errors name the mapping.
Result<void> CheckOwnMappings(const webc::Container& container);

}  // namespace webcfs::resolver
