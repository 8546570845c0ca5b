// Lazy remote containers: a v3 package served from a static mirror before it
// has been downloaded (docs/resolution.md, "Lazy remote mounts").
//
// Trust: the header regions (webc::HeaderRegions) are fetched with Range
// requests and must hash to the header digest a trusted place gave
// (index.json's `header_sha256`, an OCI manifest annotation, a lockfile); then each
// file's bytes are fetched on first read and served only once they hash to
// the SHA-256 its (verified) directory record stores. A file whose bytes do
// not match is an I/O error naming package, file, URL and both hashes, and
// stays one; the other files keep serving.
//
// Persistence: the fetched bytes go to a partial entry of the cache,
// `<dir>/lazy/<header digest>.webc`, a sparse file holding them at their
// offsets in the container, owned (flock) by one mount at a time. Within a
// process the open container is shared (a reload, the catalog's mounts);
// another process's mount of it meanwhile uses an unnamed file that goes
// with it.
// Beside it, `<header digest>.state` lists the header bytes fetched and the
// files verified (by index in offset order); it is replaced atomically
// (rename) after each fetch that verified files, whose bytes were written
// before. A later mount reads the header from the partial entry and checks
// it against the digest as if fetched, and hashes each listed file again on
// its first read instead of fetching it, so the state file is a hint: a
// daemon killed mid-fetch, a torn write or a damaged file costs a fetch,
// never an unverified byte. Once every file is verified, the bytes between
// files are fetched and the whole container goes through ContentCache::Store
// (hashed against the registry's SHA-256) to become an ordinary entry, and
// the partial entry is removed. Partial entries count towards the cache's
// size limit (ContentCache::Evict) by the blocks they take, last used when
// the state file was written or touched (at open, after each fetch, and by
// the destructor). The owner's flock keeps the evictor off its entry; a
// mount opening an entry that an evictor holds uses an unnamed file, or,
// finding the file it locked gone from the name, opens the name again
// (OpenLocalCopy), so it never keeps state for a file nobody can find.
//
// Thread-safety: the source may be read from any number of threads; readers
// of the same cold file wait for one fetch.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "webc/base/result.h"
#include "webc/container.h"

namespace webcfs::resolver {

class HttpClient;

// Totals over every lazy container of the process (`webcfs status`).
struct LazyCounters {
  std::atomic<uint64_t> bytes_fetched{0};   // body bytes of range requests
  std::atomic<uint64_t> files_verified{0};  // files fetched and matching their hash
  std::atomic<uint64_t> fetch_errors{0};    // failed range requests and hash mismatches
};
LazyCounters& GlobalLazyCounters();

struct LazyTarget {
  std::string package;            // id, for messages
  std::string url;                // the container
  uint64_t size = 0;              // its size in bytes, as the registry says
  std::string header_sha256_hex;  // the trusted header digest
  std::string sha256_hex;         // of the whole container; empty: never promoted
  std::string dir;                // the content cache's directory
  // Once StartLazyBackgroundWork ran, fetch every file not yet verified
  // (kPrefetchWorkers requests at a time, each going through its share of
  // the files in order), then promote.
  bool prefetch = false;
};

// Background work of lazy sources (prefetch, and promoting a partial entry
// found complete) waits until this is called: the daemon calls it once the
// mount answers, after any fork, since threads do not survive a fork.
// Sources opened later start theirs at once.
void StartLazyBackgroundWork();

// Fetches and checks the header, then opens the container on a source that
// fetches files on demand through `http`, which it keeps for the life of the
// mount: the requests reuse the resolver's connections and tokens. Unsupported
// when the server does not answer ranges (the caller downloads the whole
// file instead); Integrity when the header does not hash to the digest.
Result<std::shared_ptr<const webc::Container>> OpenLazy(std::shared_ptr<HttpClient> http,
                                                        const LazyTarget& target,
                                                        const webc::OpenOptions& options);

}  // namespace webcfs::resolver
