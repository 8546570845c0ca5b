// Loader: turns a package file into a verified, opened container, through the
// content cache when there is one. Internal to resolver/.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "resolver/cache.h"
#include "webc/base/result.h"
#include "webc/container.h"

namespace webcfs::resolver {

struct LoadedPackage {
  std::string source;          // the file asked for (absolute)
  std::string sha256_hex;      // of the container bytes (decompressed)
  std::string container_path;  // what `container` reads
  std::shared_ptr<const webc::Container> container;
};

class HttpClient;

struct LoadContext {
  const ContentCache* cache = nullptr;  // nullptr: read sources in place
  webc::OpenOptions open_options;
  std::shared_ptr<HttpClient> http;  // null: offline (no download)
  // Mount remote v3 packages with a trusted header digest before they are
  // downloaded (resolver/lazy_source.h).
  bool lazy = false;
  bool prefetch = false;  // with `lazy`: LazyTarget::prefetch
};

// Imports `source` into the cache (or hashes it in place) and opens it.
// Errors name the file.
Result<LoadedPackage> LoadPackage(const std::string& source, const LoadContext& context);

// Opens the cache entry for `sha256_hex` (NotFound when absent or no cache).
Result<LoadedPackage> LoadCached(const std::string& sha256_hex, const LoadContext& context);

// The package `package` (an id, for messages) whose bytes hash to
// `sha256_hex`: from the cache when it has them (no request), else downloaded
// from `url` into it (ContentCache::Store: verified before it becomes an
// entry) and opened. `size` (0 = unknown) is what the registry advertised;
// a body of another size is an error. Errors name the package and the URL.
// With context.lazy, a `header_sha256_hex` and a known size, a package not in
// the cache is opened lazily instead (OpenLazy), unless the server does not
// answer ranges.
Result<LoadedPackage> LoadRemote(const std::string& package, const std::string& url,
                                 const std::string& sha256_hex, uint64_t size,
                                 const LoadContext& context,
                                 const std::string& header_sha256_hex = {});

// Runs fn(0..n-1) on at most `workers` threads; returns the error of the
// lowest failing index, so the outcome does not depend on scheduling.
Result<void> ParallelFor(size_t n, unsigned workers, const std::function<Result<void>(size_t)>& fn);

}  // namespace webcfs::resolver
