#include "fuse/file_guard.h"

#include <unistd.h>

#include <cerrno>
#include <span>
#include <string>
#include <vector>

#include "webc/base/sha256.h"

namespace webcfs::fuse {
namespace {

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

FileGuard::FileGuard(int fd, std::string sha256_hex) : fd_(fd), sha256_hex_(std::move(sha256_hex)) {
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    changed_ = true;
    return;
  }
  size_ = st.st_size;
  Adopt(st);
}

bool FileGuard::Matches(const struct stat& st) const {
  return st.st_size == size_ && Nanos(st.st_ctim) == ctime_ns_.load(std::memory_order_acquire) &&
         Nanos(st.st_mtim) == mtime_ns_.load(std::memory_order_acquire);
}

void FileGuard::Adopt(const struct stat& st) const {
  mtime_ns_.store(Nanos(st.st_mtim), std::memory_order_release);
  ctime_ns_.store(Nanos(st.st_ctim), std::memory_order_release);
}

int FileGuard::Check() const {
  if (changed_.load(std::memory_order_acquire)) return EIO;
  struct stat st;
  if (fstat(fd_, &st) != 0) return EIO;
  if (Matches(st)) return 0;
  return Reverify();
}

// Hashes the file again; only one thread at a time (the others wait and then
// see the adopted stamp or the final verdict).
int FileGuard::Reverify() const {
  std::lock_guard<std::mutex> lock(reverify_mu_);
  if (changed_.load(std::memory_order_acquire)) return EIO;
  struct stat before;
  if (fstat(fd_, &before) != 0) return EIO;
  if (Matches(before)) return 0;
  if (before.st_size != size_ || sha256_hex_.empty()) {
    changed_ = true;
    return EIO;
  }
  webc::Sha256 hasher;
  std::vector<std::byte> buf(size_t{1} << 20);
  for (int64_t pos = 0; pos < size_;) {
    const ssize_t n = pread(fd_, buf.data(), buf.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      changed_ = true;  // shrank while hashing, or cannot be read
      return EIO;
    }
    hasher.Update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
    pos += n;
  }
  struct stat after;
  if (fstat(fd_, &after) != 0) return EIO;
  if (webc::ToHex(hasher.Finish()) != sha256_hex_) {
    changed_ = true;
    return EIO;
  }
  // Still being written: not settled yet, so neither adopt nor condemn.
  if (Nanos(after.st_ctim) != Nanos(before.st_ctim) || after.st_size != size_) return EIO;
  Adopt(after);
  return 0;
}

}  // namespace webcfs::fuse
