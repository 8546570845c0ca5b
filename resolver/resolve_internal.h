// Pieces shared by Resolve() (resolve.cc) and LoadLockfile() (lockfile.cc).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resolver/answers.h"
#include "resolver/cache.h"
#include "resolver/graph.h"
#include "resolver/http.h"
#include "resolver/loader.h"
#include "resolver/resolution.h"

namespace webcfs::resolver {

// Collects warnings and forwards each to ResolveOptions::on_warning at once.
class Warnings {
 public:
  explicit Warnings(const ResolveOptions& options) : options_(options) {}
  void Add(std::string message) {
    if (options_.on_warning) options_.on_warning(message);
    list_.push_back(std::move(message));
  }
  std::vector<std::string> Take() { return std::move(list_); }

 private:
  const ResolveOptions& options_;
  std::vector<std::string> list_;
};

// The cache ResolveOptions ask for: nullptr when caching is off, or when the
// default location is unusable (a warning; an explicit --cache must work).
Result<std::unique_ptr<ContentCache>> OpenCacheFor(const ResolveOptions& options,
                                                   Warnings& warnings);

// Keeps the cache within options.cache_max_bytes (0: no limit). Called once
// a resolution's packages are loaded, and so leased: they are never evicted.
// Failures are warnings: the resolution stands.
void EvictOverLimit(const ContentCache* cache, const ResolveOptions& options, Warnings& warnings);

webc::OpenOptions OpenOptionsFor(const ResolveOptions& options);

// The HTTP client for `sources` (registries, or a lockfile's package sources):
// nullptr when none is remote, or with options.offline.
// Shared: lazy sources keep it, and its connections, for the life of a mount.
Result<std::shared_ptr<HttpClient>> HttpClientFor(const ResolveOptions& options,
                                                  const std::vector<std::string>& sources);

// What reads the registries: the cache, the HTTP client and the stored
// answers, as ResolveOptions ask for them.
struct RegistryAccess {
  std::unique_ptr<ContentCache> cache;  // null: no cache
  std::shared_ptr<HttpClient> http;     // null: no remote registry, or offline
  std::optional<AnswerCache> answers;   // set with a cache
  const AnswerCache* stored() const { return answers ? &*answers : nullptr; }
};
Result<RegistryAccess> OpenRegistryAccess(const ResolveOptions& options, Warnings& warnings);

// The hex header digest of a v3 container (webc::HeaderDigest); empty for v1 and v2.
Result<std::string> HeaderDigestHex(const webc::Container& container);

// The Resolution of an acyclic graph whose packages are loaded: packages in
// precedence order, then mappings, commands and entrypoint.
// `loaded(node index)` gives each node's LoadedPackage.
Result<Resolution> Assemble(const Graph& graph,
                            const std::function<const LoadedPackage&(size_t)>& loaded);

}  // namespace webcfs::resolver
