#include "resolver/loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "resolver/http.h"
#include "resolver/lazy_source.h"
#include "webc/recorded_reads.h"

namespace webcfs::resolver {
namespace {

std::string Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// What the next lazy open of `path` reads first: the open itself and the
// listing of each volume's root (every mount lists its root before it answers).
// Recorded from a second, lazy open; empty if that fails, which only costs the
// next mount its speed-up.
webc::RecordedReads CopyStartupReads(const std::string& path, webc::OpenOptions options) {
  webc::RecordedReads copies;
  auto source = webc::OpenContainerSource(path, options.max_decompressed_size);
  if (!source) return copies;
  options.lazy_directories = true;
  options.verify = false;  // the eager open just did what was asked
  auto lazy = webc::Container::Open(webc::RecordingSource(std::move(*source), &copies), options);
  if (!lazy) return {};
  for (const webc::Volume& volume : (*lazy)->volumes()) (void)volume.ListChildren(volume.root());
  return copies;
}

// Opens a container: `path` in place, or the cache entry `entry`. An entry
// that an eager open accepted before (the same file version) is opened
// lazily, reading what the open and the root listings need from the record's
// copies; one opened eagerly is recorded as accepted, so that the next
// process can (resolver/cache.h).
Result<std::shared_ptr<const webc::Container>> OpenContainer(const std::string& path,
                                                             CachedFile* entry,
                                                             const LoadContext& context) {
  webc::OpenOptions options = context.open_options;
  if (entry != nullptr && entry->accepted && !options.verify) {
    options.lazy_directories = true;
    auto source = webc::OpenContainerSource(path, options.max_decompressed_size);
    if (!source) return std::move(source).error();
    auto c = webc::Container::Open(
        webc::ReplayingSource(std::move(*source), std::move(*entry->accepted)), options);
    if (!c) return std::move(c).error();
    return std::shared_ptr<const webc::Container>(std::move(*c));
  }
  auto c = webc::Container::OpenFile(path, options);
  if (!c) return std::move(c).error();
  if (entry != nullptr) {
    context.cache->RecordAccepted(*entry, CopyStartupReads(path, options));
  }
  return std::shared_ptr<const webc::Container>(std::move(*c));
}

// `container`, keeping `lease` as long as anyone holds it: the snapshot
// that serves a container pins its cache entry against eviction.
std::shared_ptr<const webc::Container> WithLease(std::shared_ptr<const webc::Container> container,
                                                 std::shared_ptr<const CacheLease> lease) {
  struct Leased {
    std::shared_ptr<const webc::Container> container;
    std::shared_ptr<const CacheLease> lease;
  };
  auto held = std::make_shared<const Leased>(Leased{std::move(container), std::move(lease)});
  return std::shared_ptr<const webc::Container>(held, held->container.get());
}

// True while the entry `entry` is still the file at its path (an eviction
// may have removed it before the caller leased it).
bool StillInCache(const CachedFile& entry) {
  struct stat st;
  return ::stat(entry.path.c_str(), &st) == 0 && st.st_ino == entry.stamp.ino &&
         st.st_dev == entry.stamp.dev;
}

}  // namespace

Result<LoadedPackage> LoadPackage(const std::string& source, const LoadContext& context) {
  LoadedPackage out;
  out.source = Absolute(source);
  std::optional<CachedFile> entry;
  std::shared_ptr<const CacheLease> lease;
  if (context.cache != nullptr) {
    // A new cache entry is opened (eagerly) before it is renamed into place:
    // bytes that are no container never take up room in the cache.
    std::shared_ptr<const webc::Container> fresh;
    auto open_copy = [&](std::shared_ptr<const webc::ByteSource> copy) -> Result<void> {
      auto c = webc::Container::Open(std::move(copy), context.open_options);
      if (!c) return std::move(c).error().With(out.source);
      fresh = std::move(*c);
      return Ok();
    };
    // The hash is known only once imported, so the lease comes after: an
    // entry evicted in between is imported again.
    Result<CachedFile> cached = Error::NotFound(out.source);
    for (int attempt = 0; attempt < 3; ++attempt) {
      fresh.reset();
      cached =
          context.cache->Import(out.source, context.open_options.max_decompressed_size, open_copy);
      if (!cached) return std::move(cached).error();
      auto leased = context.cache->Lease(cached->sha256_hex);
      if (!leased) return std::move(leased).error();
      lease = std::move(*leased);
      if (StillInCache(*cached)) break;
    }
    out.sha256_hex = cached->sha256_hex;
    out.container_path = cached->path;
    if (fresh != nullptr) {
      context.cache->RecordAccepted(*cached, CopyStartupReads(cached->path, context.open_options));
      out.container = WithLease(std::move(fresh), std::move(lease));
      return out;
    }
    entry = std::move(*cached);
  } else {
    auto hex = HashContainerFile(out.source, context.open_options.max_decompressed_size);
    if (!hex) return std::move(hex).error();
    out.sha256_hex = *hex;
    out.container_path = out.source;
  }
  auto container = OpenContainer(out.container_path, entry ? &*entry : nullptr, context);
  if (!container) {
    // The reader names the file it opened; for a cache copy, say which source it holds.
    if (out.container_path != out.source) {
      return std::move(container).error().With(out.source);
    }
    return std::move(container).error();
  }
  out.container =
      lease ? WithLease(std::move(*container), std::move(lease)) : std::move(*container);
  return out;
}

namespace {

// Opens the entry for `sha256_hex`, which `lease` pins.
Result<LoadedPackage> OpenLeased(const std::string& sha256_hex, const LoadContext& context,
                                 std::shared_ptr<const CacheLease> lease) {
  auto entry = context.cache->Find(sha256_hex);
  if (!entry) return std::move(entry).error();
  LoadedPackage out;
  out.source = entry->path;
  out.sha256_hex = sha256_hex;
  out.container_path = entry->path;
  auto container = OpenContainer(entry->path, &*entry, context);
  if (!container) return std::move(container).error();
  out.container = WithLease(std::move(*container), std::move(lease));
  return out;
}

}  // namespace

Result<LoadedPackage> LoadCached(const std::string& sha256_hex, const LoadContext& context) {
  if (context.cache == nullptr) return Error::NotFound("no content cache");
  auto lease = context.cache->Lease(sha256_hex);
  if (!lease) return std::move(lease).error();
  return OpenLeased(sha256_hex, context, std::move(*lease));
}

namespace {

// Streams `url` into `writer`; the body must be `size` bytes when size > 0.
Result<void> Download(HttpClient& http, const std::string& url, uint64_t size, uint64_t max_size,
                      EntryWriter& writer) {
  HttpSink sink{[&] { return writer.Reset(); },
                [&](std::span<const std::byte> b) { return writer.Write(b); }, nullptr};
  auto r = http.Get(url, size > 0 ? size : max_size, sink);
  if (!r) {
    if (size > 0 && r.error().code() == Error::Code::kResourceLimit) {
      return Error::Corrupt("GET " + url + ": body larger than the advertised " +
                            std::to_string(size) + " bytes");
    }
    return r;
  }
  if (size > 0 && writer.size() != size) {
    return Error::Corrupt("GET " + url + ": truncated body: " + std::to_string(writer.size()) +
                          " of the advertised " + std::to_string(size) + " bytes");
  }
  return Ok();
}

}  // namespace

Result<LoadedPackage> LoadRemote(const std::string& package, const std::string& url,
                                 const std::string& sha256_hex, uint64_t size,
                                 const LoadContext& context, const std::string& header_sha256_hex) {
  if (context.cache == nullptr) {
    return Error::InvalidArgument(package + ": " + url +
                                  ": downloads need the content cache (drop --no-cache)");
  }
  auto lease = context.cache->Lease(sha256_hex);
  if (!lease) return std::move(lease).error().With(package);
  auto cached = OpenLeased(sha256_hex, context, *lease);
  if (cached || cached.error().code() != Error::Code::kNotFound) {
    if (!cached) return std::move(cached).error().With(package);
    cached->source = url;
    return cached;
  }
  if (context.http == nullptr) {
    return Error::NotFound(package + ": not in the cache, and offline (" + url + ")");
  }
  if (context.lazy && !header_sha256_hex.empty() && size > 0) {
    LazyTarget target{
        package, url, size, header_sha256_hex, sha256_hex, context.cache->dir(), context.prefetch};
    auto lazy = OpenLazy(context.http, target, context.open_options);
    if (lazy) {
      LoadedPackage out;
      out.source = url;
      out.sha256_hex = sha256_hex;
      out.container_path = url;
      out.container = std::move(*lazy);
      return out;
    }
    // A server without ranges gets the whole download below.
    if (lazy.error().code() != Error::Code::kUnsupported) return std::move(lazy).error();
  }
  auto entry = context.cache->Store(sha256_hex, [&](EntryWriter& writer) {
    return Download(*context.http, url, size, context.open_options.max_decompressed_size, writer);
  });
  if (!entry) {
    if (entry.error().code() == Error::Code::kIntegrity) {
      return std::move(entry).error().With(package + ": GET " + url);
    }
    return std::move(entry).error().With(package);
  }
  LoadedPackage out;
  out.source = url;
  out.sha256_hex = entry->sha256_hex;
  out.container_path = entry->path;
  auto container = OpenContainer(entry->path, &*entry, context);
  if (!container) return std::move(container).error().With(package + " (" + url + ")");
  out.container = WithLease(std::move(*container), std::move(*lease));
  return out;
}

Result<void> ParallelFor(size_t n, unsigned workers,
                         const std::function<Result<void>(size_t)>& fn) {
  std::vector<std::optional<Error>> errors(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      auto r = fn(i);
      if (!r) errors[i] = std::move(r).error();
    }
  };
  size_t threads = std::min<size_t>(n, std::max(1u, workers));
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
  }
  for (auto& e : errors) {
    if (e) return std::move(*e);
  }
  return Ok();
}

}  // namespace webcfs::resolver
