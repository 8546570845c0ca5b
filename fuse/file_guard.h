// FileGuard: notices when the file behind a live mount changes, so that a read
// answers EIO instead of bytes the package never had (docs/filesystem.md,
// "Files changing under the mount").
//
// The file was verified (hashed) when it was loaded; the guard remembers its
// fstat stamp then: size, mtime and ctime. Any write, truncation, chmod or
// unlink changes ctime, which user space cannot set back. A read whose stamp
// still matches is served; on a different stamp the guard hashes the whole
// file once more: the same bytes (a file deleted but still open, or rewritten
// with identical content) adopt the new stamp and keep serving; other bytes,
// or another size, mark the file changed for good and every later read of it
// is EIO until a reload builds a new snapshot.
//
// Thread-safety: Check() may be called concurrently; the fast path is one
// fstat and three atomic loads; re-hashing is serialized by a mutex.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace webcfs::fuse {

class FileGuard {
 public:
  // `fd` stays owned by its ByteSource and must outlive the guard.
  // `sha256_hex` is the hash of the file's bytes; empty when unknown (any
  // change is then final).
  FileGuard(int fd, std::string sha256_hex);
  FileGuard(const FileGuard&) = delete;
  FileGuard& operator=(const FileGuard&) = delete;

  // 0 while the file holds the bytes it was loaded with, else EIO.
  int Check() const;
  // True once the file was found changed.
  bool changed() const { return changed_.load(std::memory_order_relaxed); }

 private:
  bool Matches(const struct stat& st) const;
  void Adopt(const struct stat& st) const;
  int Reverify() const;

  const int fd_;
  const std::string sha256_hex_;
  int64_t size_ = -1;  // fixed: the verified bytes have this length
  mutable std::atomic<int64_t> mtime_ns_{0};
  mutable std::atomic<int64_t> ctime_ns_{0};
  mutable std::atomic<bool> changed_{false};
  mutable std::mutex reverify_mu_;
};

}  // namespace webcfs::fuse
