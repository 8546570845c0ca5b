// ContentCache: a directory of containers named by the SHA-256 of their bytes,
// `<64 hex>.webc` (docs/architecture.md, "Sources", "Safety rules").
//
// Every package webcfs serves is imported here first, so a mount reads a
// private copy that nobody else writes: a registry file rewritten or truncated
// under a live mount changes nothing (docs/resolution.md explains the choice).
// `.webc.zst` inputs are decompressed into it.
//
// Entries are written atomically (temp file + rename) and named by the hash
// of the bytes written; an existing entry is trusted only once its content has
// been hashed and found equal to its name. That check is recorded per file
// version (device, inode, size, mtime, ctime) in `verified/<hex>`, so a later
// process trusts an entry nobody has written to since, without reading it;
// `sources/` likewise remembers which entry each source file version maps to,
// so a later process need not hash the source (docs/resolution.md).
//
// Size limit: Evict removes least-recently-used entries until the entries
// fit, except those leased (Lease): a shared flock on `leases/<hex>` that a
// process holds while it serves the entry. The kernel drops it when the
// process dies, so a killed daemon pins nothing. Partial entries of lazy
// mounts (`lazy/`, PartialEntryBase) count too, by the bytes they take on
// disk, and go in the same order, except one a mount owns (its flock on the
// data file).
//
// Thread-safety: all methods may be called concurrently (the loader imports
// packages from several workers); the per-process memo is guarded by a mutex.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "webc/base/result.h"
#include "webc/base/unique_fd.h"
#include "webc/byte_source.h"
#include "webc/container.h"
#include "webc/recorded_reads.h"

namespace webcfs::resolver {

using webc::kMaxDecompressedSize;

// Identifies one version of a file: a replacement by rename changes the
// inode; any write changes ctime, which, unlike mtime, user space cannot set
// back (utimensat sets ctime to "now").
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

struct CachedFile {
  std::string sha256_hex;  // of the (decompressed) container bytes
  std::string path;        // the verified cache entry
  FileStamp stamp;         // the entry's version that was verified
  // When an eager webc::Container::Open accepted this version of the entry
  // before (RecordAccepted): the copies of its start-up reads recorded with
  // it, maybe none. A later process can open the entry with
  // OpenOptions::lazy_directories, since the whole tree was checked once.
  // nullopt when not accepted as it is now, and always with `rehash`.
  std::optional<webc::RecordedReads> accepted;
};

// Bytes on their way into a new cache entry (ContentCache::Store): written to
// a temp file and hashed as they come.
class EntryWriter {
 public:
  virtual ~EntryWriter() = default;
  virtual Result<void> Write(std::span<const std::byte> bytes) = 0;
  // Drops everything written so far (a download that starts again).
  virtual Result<void> Reset() = 0;
  virtual uint64_t size() const = 0;
};

// A shared lock on `leases/<hex>`: while it lives, no Evict (in any process)
// removes the entry. Released (and its time recorded as the entry's last use)
// when destroyed.
class CacheLease {
 public:
  explicit CacheLease(webc::UniqueFd fd) : fd_(std::move(fd)) {}
  CacheLease(const CacheLease&) = delete;
  CacheLease& operator=(const CacheLease&) = delete;
  ~CacheLease();

 private:
  webc::UniqueFd fd_;
};

struct EvictResult {
  uint64_t bytes_before = 0;  // entries' total size before, partial ones included
  uint64_t bytes_after = 0;
  size_t evicted = 0;  // entries removed, partial ones included
  size_t busy = 0;     // entries over the limit left in place: leased or owned
};

class ContentCache {
 public:
  // Creates `dir` (and parents, mode 0755) when missing. With `rehash`, every
  // entry is hashed again once per process, whatever `verified/` says.
  static Result<std::unique_ptr<ContentCache>> Open(const std::string& dir, bool rehash = false);

  const std::string& dir() const { return dir_; }

  // Checks a new entry's bytes before they are renamed into place. `copy`
  // reads them and is named as the entry will be; it stays valid after the
  // rename. An error leaves nothing in the cache and is Import's error.
  using CopyCheck = std::function<Result<void>(std::shared_ptr<const webc::ByteSource> copy)>;

  // Imports a `.webc` or zstd-compressed container (detected by magic number)
  // and returns its verified cache entry. Errors name `source_path`; a zstd
  // stream that inflates past `max_decompressed` bytes is a ResourceLimit.
  // A new entry is renamed into place only once `check` accepts it (when
  // given), so a file that is not a container, or is truncated, leaves no copy.
  Result<CachedFile> Import(const std::string& source_path,
                            uint64_t max_decompressed = kMaxDecompressedSize,
                            const CopyCheck& check = {}) const;

  // The entry for `sha256_hex`, created from what `fill` writes unless it is
  // already there. Only bytes that hash to `sha256_hex` become the entry: a
  // fill that fails or writes other bytes (Integrity, naming expected and
  // actual sha256) leaves nothing behind. A lock file per entry,
  // `locks/<hex>`, is held while filling, so processes that want the same
  // entry at once fill it once and the others find it. `*filled` tells
  // whether `fill` ran.
  Result<CachedFile> Store(std::string_view sha256_hex,
                           const std::function<Result<void>(EntryWriter&)>& fill,
                           bool* filled = nullptr) const;

  // The verified entry for `sha256_hex`; NotFound when absent; Integrity when
  // an entry exists whose content does not match its name.
  Result<CachedFile> Find(std::string_view sha256_hex) const;
  // Whether a file for `sha256_hex` exists, unverified: a hint, such as
  // whether a download is coming.
  bool Has(std::string_view sha256_hex) const;

  // Records, in `accepted/<hex>` and keyed to `entry.stamp` like `verified/`,
  // that an eager open accepted the entry, with `startup_reads`: what a lazy
  // open of it reads first (webc/recorded_reads.h), for the next open to read
  // from the record. Best effort: without it the next open is eager again.
  void RecordAccepted(const CachedFile& entry, const webc::RecordedReads& startup_reads) const;

  // Leases the entry `sha256_hex` (present or not yet): Evict leaves it
  // alone while the lease lives. Its time is the entry's last use. Take it
  // before finding or storing the entry, so that no eviction comes between.
  // nullptr (no lease) when the cache is read-only or not writable by us.
  Result<std::shared_ptr<const CacheLease>> Lease(std::string_view sha256_hex) const;

  // Removes least-recently-used entries, with their records, and partial
  // entries until their total size is at most `max_bytes`, skipping leased
  // entries and partial entries a mount owns (which may keep the total above
  // it). An entry's size is its length, a partial entry's the blocks its data
  // and state files take. Last use: when its lease was last taken or
  // released, else when the entry was made; for a partial entry, the later
  // mtime of its two files (a mount writes the state when it opens the entry
  // and after each fetch, and touches it when it lets go).
  Result<EvictResult> Evict(uint64_t max_bytes) const;

 private:
  ContentCache(std::string dir, bool rehash) : dir_(std::move(dir)), rehash_(rehash) {}
  std::string EntryPath(std::string_view sha256_hex) const;
  // Hashes `path` unless this process, or a `verified/` record, already did
  // for the same file version; returns that version.
  Result<FileStamp> VerifyOnce(const std::string& path, std::string_view sha256_hex) const;
  // The verified entry, with what the accepted record says of `stamp`.
  CachedFile Entry(std::string hex, std::string path, const FileStamp& stamp) const;

  std::string dir_;
  bool rehash_;
};

// Where a lazy mount keeps the fetched bytes of a container (its partial
// entry, resolver/lazy_source.h): `<base>.webc`, a sparse data file a mount
// owns with an exclusive flock, and `<base>.state`; the base is
// `<dir>/lazy/<header digest>`.
inline constexpr const char* kPartialDir = "lazy";
std::string PartialEntryBase(const std::string& dir, std::string_view header_sha256_hex);

// The default cache directory: $XDG_CACHE_HOME/webcfs, else /var/cache/webcfs
// for root, else $HOME/.cache/webcfs; empty when none can be determined.
std::string DefaultCacheDir();

// SHA-256 (hex) of a container's bytes, decompressing a zstd file on the fly;
// remembered per process for the same file version. Errors name the path.
Result<std::string> HashContainerFile(const std::string& path,
                                      uint64_t max_decompressed = kMaxDecompressedSize);

// True when the file starts with the zstd frame magic number.
Result<bool> IsZstdFile(const std::string& path);

}  // namespace webcfs::resolver
