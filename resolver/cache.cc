#include "resolver/cache.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include "resolver/specifier.h"
#include "webc/base/regular_file.h"
#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"
#include "webc/byte_source.h"
#include "webc/recorded_reads.h"

namespace webcfs::resolver {
namespace {

constexpr size_t kChunk = size_t{1} << 20;
constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

FileStamp StampOf(const struct stat& st) {
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                   int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
}

// What this process already knows (design: "verify on first open per process").
// The records live as long as the process but are made while packages load:
// they come from a pool of their own, because small blocks left between the
// blocks of packages freed later would keep those heap pages resident.
struct Memo {
  std::mutex mu;
  std::pmr::unsynchronized_pool_resource pool;  // guarded by mu, like the maps
  // path → stamp, hex
  std::pmr::map<std::pmr::string, std::pair<FileStamp, std::pmr::string>, std::less<>>
      source_hashes{&pool};
  // cache entry path → stamp it had when verified
  std::pmr::map<std::pmr::string, FileStamp, std::less<>> verified{&pool};
};

Memo& GetMemo() {
  static Memo memo;
  return memo;
}

// A FIFO or device (a registry entry, a spec) is refused, never opened in a
// way that blocks.
Result<webc::UniqueFd> OpenRead(const std::string& path) {
  auto fd = webc::OpenRegularFile(path);
  if (!fd && fd.error().sys_errno() == ENOENT) return Error::NotFound(path + ": no such file");
  return fd;
}

Result<FileStamp> Stat(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Error::Io(path, errno);
  if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(path + ": not a regular file");
  return StampOf(st);
}

Result<bool> HasZstdMagic(int fd, const std::string& path) {
  unsigned char magic[4];
  ssize_t n;
  do {
    n = ::pread(fd, magic, sizeof magic, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::Io(path, errno);
  return n == 4 && std::memcmp(magic, kZstdMagic, 4) == 0;
}

using Sink = std::function<Result<void>(std::span<const std::byte>)>;

Result<size_t> ReadSome(int fd, std::byte* buf, size_t n, const std::string& path) {
  while (true) {
    ssize_t got = ::read(fd, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return Error::Io(path, errno);
  }
}

// Streams the container bytes of `fd` from its start, decompressing zstd.
Result<void> StreamContainer(int fd, bool zstd, const std::string& path, uint64_t max_decompressed,
                             const Sink& sink) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return Error::Io(path, errno);
  std::vector<std::byte> in(kChunk);
  if (!zstd) {
    while (true) {
      auto n = ReadSome(fd, in.data(), in.size(), path);
      if (!n) return std::move(n).error();
      if (*n == 0) return Ok();
      WEBCFS_RETURN_IF_ERROR(sink(std::span<const std::byte>(in.data(), *n)));
    }
  }
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return Error::ResourceLimit(path + ": cannot allocate a zstd context");
  std::vector<std::byte> out(ZSTD_DStreamOutSize());
  uint64_t total = 0;
  size_t last = 0;
  bool any_input = false;
  while (true) {
    auto n = ReadSome(fd, in.data(), in.size(), path);
    if (!n) return std::move(n).error();
    if (*n == 0) break;
    any_input = true;
    ZSTD_inBuffer input{in.data(), *n, 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      last = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last)) {
        return Error::Corrupt(path + ": zstd: " + ZSTD_getErrorName(last));
      }
      total += output.pos;
      if (total > max_decompressed) {
        return Error::ResourceLimit(path + ": decompresses to more than " +
                                    std::to_string(max_decompressed) + " bytes (limit)");
      }
      if (output.pos) WEBCFS_RETURN_IF_ERROR(sink({out.data(), output.pos}));
    }
  }
  if (!any_input || last != 0) return Error::Corrupt(path + ": truncated zstd stream");
  return Ok();
}

Result<void> WriteAll(int fd, std::span<const std::byte> data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::Io(path, errno);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Ok();
}

Result<std::string> HashFd(int fd, bool zstd, const std::string& path,
                           uint64_t max_decompressed = kMaxDecompressedSize) {
  webc::Sha256 hasher;
  WEBCFS_RETURN_IF_ERROR(
      StreamContainer(fd, zstd, path, max_decompressed, [&](std::span<const std::byte> b) {
        hasher.Update(b);
        return Ok();
      }));
  return webc::ToHex(hasher.Finish());
}

// A temp file in the cache directory, removed unless committed by rename.
class TempFile {
 public:
  static Result<TempFile> Create(const std::string& dir) {
    std::string path = dir + "/.tmp-XXXXXX";
    int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return Error::Io(dir + ": cannot create a temp file", errno);
    return TempFile(std::move(path), webc::UniqueFd(fd));
  }
  TempFile(TempFile&&) = default;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  // Makes the entry read-only and renames it into place; returns its stamp
  // as renamed (a rename updates the file's ctime on Linux filesystems).
  Result<FileStamp> Commit(const std::string& target) {
    if (::fchmod(fd(), 0444) != 0) return Error::Io(path_, errno);
    if (::rename(path_.c_str(), target.c_str()) != 0) return Error::Io(target, errno);
    path_.clear();
    return Stat(fd(), target);
  }

 private:
  TempFile(std::string path, webc::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  webc::UniqueFd fd_;
};

void RememberVerified(const std::string& path, const FileStamp& stamp) {
  Memo& memo = GetMemo();
  std::lock_guard lock(memo.mu);
  if (auto it = memo.verified.find(std::string_view(path)); it != memo.verified.end()) {
    it->second = stamp;
  } else {
    memo.verified.emplace(std::string_view(path), stamp);
  }
}

void RememberSourceHash(const std::string& path, const FileStamp& stamp, const std::string& hex) {
  Memo& memo = GetMemo();
  std::lock_guard lock(memo.mu);
  if (auto it = memo.source_hashes.find(std::string_view(path)); it != memo.source_hashes.end()) {
    it->second.first = stamp;
    it->second.second = hex;
  } else {
    memo.source_hashes.emplace(std::piecewise_construct,
                               std::forward_as_tuple(std::string_view(path)),
                               std::forward_as_tuple(stamp, std::string_view(hex)));
  }
}

std::optional<std::string> KnownSourceHash(const std::string& path, const FileStamp& stamp) {
  Memo& memo = GetMemo();
  std::lock_guard lock(memo.mu);
  auto it = memo.source_hashes.find(std::string_view(path));
  if (it == memo.source_hashes.end() || !(it->second.first == stamp)) return std::nullopt;
  return std::string(it->second.second);
}

// Copies (or decompresses) `src` into `tmp`, returning the hash of what was
// written. A reflink (FICLONE) shares blocks copy-on-write where the
// filesystem can, so the private copy costs no data I/O there.
Result<std::string> FillTemp(int src, bool zstd, const std::string& source_path,
                             uint64_t max_decompressed, TempFile& tmp) {
  if (!zstd && ::ioctl(tmp.fd(), FICLONE, src) == 0) {
    return HashFd(tmp.fd(), false, tmp.path());
  }
  webc::Sha256 hasher;
  WEBCFS_RETURN_IF_ERROR(StreamContainer(src, zstd, source_path, max_decompressed,
                                         [&](std::span<const std::byte> b) -> Result<void> {
                                           hasher.Update(b);
                                           return WriteAll(tmp.fd(), b, tmp.path());
                                         }));
  return webc::ToHex(hasher.Finish());
}

// A crash mid-import leaves a temp file behind; one a day old belongs to no
// live import (imports of even huge packages take minutes), so it can go.
void RemoveStaleTempFiles(const std::filesystem::path& dir) {
  constexpr auto kStale = std::chrono::hours(24);
  std::error_code ec;
  auto now = std::filesystem::file_time_type::clock::now();
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->path().filename().string().starts_with(".tmp-")) continue;
    std::error_code ignored;
    auto mtime = it->last_write_time(ignored);
    if (!ignored && now - mtime > kStale) std::filesystem::remove(it->path(), ignored);
  }
}

// Stamp records: small files that say "the file with this stamp had this
// property when last checked". `sources/<sha256 of a source path>` holds the
// hash of that source's container bytes; `verified/<hex>` says the entry
// `<hex>.webc` was hashed and found equal to its name. Any write to a file
// changes its ctime, which user space cannot set back, so a record whose stamp
// still matches describes the file as it is.
struct RecordKind {
  const char* subdir;
  const char* tag;  // first word of the record
};
constexpr RecordKind kSourceRecord{"sources", "webcfs-source"};
constexpr RecordKind kVerifiedRecord{"verified", "webcfs-verified"};
// `accepted/<hex>`: an eager webc::Container::Open accepted the entry. The tag
// names the reader's rules: a webcfs whose reader refuses more must use a new
// one, so that it checks every entry again once. After the line come the
// start-up reads' copies (webc::RecordedReads::Encode; r2).
constexpr RecordKind kAcceptedRecord{"accepted", "webcfs-accepted-r2"};
// Room for the stamp line and the most bytes a RecordedReads encodes.
constexpr size_t kMaxRecordSize = 256 + 2 * webc::RecordedReads::kMaxBytes;

std::string RecordPath(const std::string& dir, const RecordKind& kind, const std::string& name) {
  return dir + "/" + kind.subdir + "/" + name;
}

std::string SourceRecordName(const std::string& source_path) {
  return webc::ToHex(webc::Sha256::Of(source_path));
}

// A whole record as read, and where the bytes after its stamp line start.
struct RecordPayload {
  std::vector<std::byte> bytes;
  size_t from = 0;
};

// The hash a record of `kind` holds for `stamp`, or nullopt when the record is
// absent, malformed, for another version of the file, or not private to us.
// With `payload`, also what follows the stamp line.
std::optional<std::string> ReadStampRecord(const std::string& dir, const RecordKind& kind,
                                           const std::string& name, const FileStamp& stamp,
                                           RecordPayload* payload = nullptr) {
  // Trusted only when nobody but this user (or root) could have written it:
  // a record decides which bytes serve a package.
  auto private_to_us = [](const struct stat& st) {
    return (st.st_uid == ::geteuid() || st.st_uid == 0) && (st.st_mode & 022) == 0;
  };
  struct stat dir_st;
  if (::stat((dir + "/" + kind.subdir).c_str(), &dir_st) != 0 || !private_to_us(dir_st)) {
    return std::nullopt;
  }
  std::string text;
  {
    auto fd = OpenRead(RecordPath(dir, kind, name));
    if (!fd) return std::nullopt;
    struct stat st;
    if (::fstat(fd->get(), &st) != 0 || !private_to_us(st)) return std::nullopt;
    if (payload == nullptr) {
      char buf[256];
      ssize_t n = ::read(fd->get(), buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      text.assign(buf, static_cast<size_t>(n));
    } else {
      if (st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > kMaxRecordSize)
        return std::nullopt;
      std::vector<std::byte>& bytes = payload->bytes;
      bytes.resize(static_cast<size_t>(st.st_size));
      if (::pread(fd->get(), bytes.data(), bytes.size(), 0) != st.st_size) return std::nullopt;
      const auto eol = std::find(bytes.begin(), bytes.end(), std::byte{'\n'});
      if (eol == bytes.end()) return std::nullopt;
      payload->from = static_cast<size_t>(eol - bytes.begin()) + 1;
      text.assign(reinterpret_cast<const char*>(bytes.data()), payload->from);
    }
  }
  unsigned long long dev, ino;
  long long size, mtime, ctime;
  char hex[65];
  const std::string format = std::string(kind.tag) + " 1 %llu %llu %lld %lld %lld %64s";
  if (std::sscanf(text.c_str(), format.c_str(), &dev, &ino, &size, &mtime, &ctime, hex) != 6) {
    return std::nullopt;
  }
  FileStamp recorded{static_cast<dev_t>(dev), static_cast<ino_t>(ino), static_cast<off_t>(size),
                     mtime, ctime};
  auto valid = ParseSha256Hex(hex);
  if (!(recorded == stamp) || !valid) return std::nullopt;
  return *valid;
}

// Best effort: without the record the next process just hashes the file.
void WriteStampRecord(const std::string& dir, const RecordKind& kind, const std::string& name,
                      const FileStamp& stamp, const std::string& hex,
                      std::span<const std::byte> payload = {}) {
  const std::string kind_dir = dir + "/" + kind.subdir;
  if (::mkdir(kind_dir.c_str(), 0755) != 0 && errno != EEXIST) return;
  auto tmp = TempFile::Create(kind_dir);
  if (!tmp) return;
  std::string line = std::string(kind.tag) + " 1 " + std::to_string(stamp.dev) + " " +
                     std::to_string(stamp.ino) + " " + std::to_string(stamp.size) + " " +
                     std::to_string(stamp.mtime_ns) + " " + std::to_string(stamp.ctime_ns) + " " +
                     hex + "\n";
  if (!WriteAll(tmp->fd(), std::as_bytes(std::span(line)), tmp->path())) return;
  if (!payload.empty() && !WriteAll(tmp->fd(), payload, tmp->path())) return;
  (void)tmp->Commit(RecordPath(dir, kind, name));
}

// The cache entry `path` (in `dir`) holds exactly the bytes named `hex`, as
// of `stamp`: remembered for this process and recorded for later ones.
void RecordVerified(const std::string& dir, const std::string& path, const std::string& hex,
                    const FileStamp& stamp) {
  RememberVerified(path, stamp);
  WriteStampRecord(dir, kVerifiedRecord, hex, stamp, hex);
}

}  // namespace

Result<std::unique_ptr<ContentCache>> ContentCache::Open(const std::string& dir, bool rehash) {
  if (dir.empty()) return Error::InvalidArgument("empty cache directory");
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  if (ec) return Error::Io(dir + ": " + ec.message());
  std::filesystem::create_directories(abs, ec);
  if (ec) return Error::Io("cache directory " + abs.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(abs, ec)) {
    return Error::InvalidArgument("cache directory " + abs.string() + ": not a directory");
  }
  if (::access(abs.c_str(), W_OK | X_OK) != 0) {
    return Error::Io("cache directory " + abs.string(), errno);
  }
  RemoveStaleTempFiles(abs);
  return std::unique_ptr<ContentCache>(new ContentCache(abs.lexically_normal().string(), rehash));
}

bool ContentCache::Has(std::string_view sha256_hex) const {
  return ::access(EntryPath(sha256_hex).c_str(), F_OK) == 0;
}

std::string ContentCache::EntryPath(std::string_view sha256_hex) const {
  return dir_ + "/" + std::string(sha256_hex) + ".webc";
}

Result<FileStamp> ContentCache::VerifyOnce(const std::string& path,
                                           std::string_view sha256_hex) const {
  auto fd = OpenRead(path);
  if (!fd) return std::move(fd).error();
  auto stamp = Stat(fd->get(), path);
  if (!stamp) return std::move(stamp).error();
  {
    Memo& memo = GetMemo();
    std::lock_guard lock(memo.mu);
    auto it = memo.verified.find(std::string_view(path));
    if (it != memo.verified.end() && it->second == *stamp) return *stamp;
  }
  const std::string hex(sha256_hex);
  if (!rehash_ && ReadStampRecord(dir_, kVerifiedRecord, hex, *stamp) == hex) {
    RememberVerified(path, *stamp);
    return *stamp;
  }
  auto actual = HashFd(fd->get(), false, path);
  if (!actual) return std::move(actual).error();
  if (*actual != sha256_hex) {
    return Error::Integrity(path + ": cache entry content hashes to " + *actual);
  }
  // Recorded only if the file did not change while it was being hashed.
  auto after = Stat(fd->get(), path);
  if (after && *after == *stamp) RecordVerified(dir_, path, hex, *stamp);
  return *stamp;
}

CachedFile ContentCache::Entry(std::string hex, std::string path, const FileStamp& stamp) const {
  CachedFile entry{std::move(hex), std::move(path), stamp, std::nullopt};
  if (rehash_) return entry;
  RecordPayload payload;
  if (ReadStampRecord(dir_, kAcceptedRecord, entry.sha256_hex, stamp, &payload) !=
      entry.sha256_hex) {
    return entry;
  }
  // Copies that do not decode make the record worthless: open eagerly, record anew.
  auto copies = webc::RecordedReads::Decode(std::move(payload.bytes), payload.from);
  if (copies) entry.accepted = std::move(*copies);
  return entry;
}

void ContentCache::RecordAccepted(const CachedFile& entry,
                                  const webc::RecordedReads& startup_reads) const {
  WriteStampRecord(dir_, kAcceptedRecord, entry.sha256_hex, entry.stamp, entry.sha256_hex,
                   startup_reads.Encode());
}

Result<CachedFile> ContentCache::Find(std::string_view sha256_hex) const {
  auto hex = ParseSha256Hex(sha256_hex);
  if (!hex) return std::move(hex).error();
  std::string path = EntryPath(*hex);
  auto stamp = VerifyOnce(path, *hex);
  if (!stamp) return std::move(stamp).error();
  return Entry(std::move(*hex), std::move(path), *stamp);
}

Result<CachedFile> ContentCache::Import(const std::string& source_path, uint64_t max_decompressed,
                                        const CopyCheck& check) const {
  auto src = OpenRead(source_path);
  if (!src) return std::move(src).error();
  auto stamp = Stat(src->get(), source_path);
  if (!stamp) return std::move(stamp).error();
  auto zstd = HasZstdMagic(src->get(), source_path);
  if (!zstd) return std::move(zstd).error();

  std::optional<std::string> hex = KnownSourceHash(source_path, *stamp);
  if (!hex) {
    hex = ReadStampRecord(dir_, kSourceRecord, SourceRecordName(source_path), *stamp);
    if (hex) RememberSourceHash(source_path, *stamp, *hex);
  }
  if (hex) {
    std::string target = EntryPath(*hex);
    auto ok = VerifyOnce(target, *hex);
    if (ok) return Entry(*hex, target, *ok);
    // Absent, or a damaged entry that the fresh copy below replaces.
    if (ok.error().code() != Error::Code::kNotFound &&
        ok.error().code() != Error::Code::kIntegrity) {
      return std::move(ok).error();
    }
  }

  // One pass: read (inflate), hash and write; the entry's name is the hash
  // of exactly the bytes written.
  auto tmp = TempFile::Create(dir_);
  if (!tmp) return std::move(tmp).error();
  auto written = FillTemp(src->get(), *zstd, source_path, max_decompressed, *tmp);
  if (!written) return std::move(written).error();
  auto after = Stat(src->get(), source_path);
  if (!after) return std::move(after).error();
  if (!(*after == *stamp) || (hex && *written != *hex)) {
    return Error::Integrity(source_path + ": changed while being copied into the cache");
  }
  RememberSourceHash(source_path, *stamp, *written);
  WriteStampRecord(dir_, kSourceRecord, SourceRecordName(source_path), *stamp, *written);
  std::string target = EntryPath(*written);
  if (!hex) {
    // The same bytes may have come from another source before.
    if (auto existing = VerifyOnce(target, *written)) return Entry(*written, target, *existing);
  }
  if (check) {
    auto copy = webc::OpenFileSource(tmp->path(), target);
    if (!copy) return std::move(copy).error().With(source_path);
    WEBCFS_RETURN_IF_ERROR(check(std::move(*copy)));
  }
  auto committed = tmp->Commit(target);
  if (!committed) return std::move(committed).error();
  RecordVerified(dir_, target, *written, *committed);
  return CachedFile{*written, target, *committed, std::nullopt};  // new: never opened
}

namespace {

class TempEntryWriter final : public EntryWriter {
 public:
  explicit TempEntryWriter(TempFile& tmp) : tmp_(tmp) { hasher_.emplace(); }
  // Small pieces (libcurl hands a body over 16 KiB at a time) are gathered
  // into one write(2) per kChunk: one per piece made downloads syscall-bound.
  Result<void> Write(std::span<const std::byte> bytes) override {
    hasher_->Update(bytes);
    size_ += bytes.size();
    if (buffer_.size() + bytes.size() > kChunk) WEBCFS_RETURN_IF_ERROR(Flush());
    if (bytes.size() >= kChunk) return WriteAll(tmp_.fd(), bytes, tmp_.path());
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    return Ok();
  }
  Result<void> Reset() override {
    buffer_.clear();
    if (::ftruncate(tmp_.fd(), 0) != 0 || ::lseek(tmp_.fd(), 0, SEEK_SET) != 0) {
      return Error::Io(tmp_.path(), errno);
    }
    hasher_.emplace();
    size_ = 0;
    return Ok();
  }
  uint64_t size() const override { return size_; }
  // Writes out what Write gathered; before the file is used.
  Result<void> Flush() {
    auto written = WriteAll(tmp_.fd(), buffer_, tmp_.path());
    buffer_.clear();
    return written;
  }
  std::string Hex() { return webc::ToHex(hasher_->Finish()); }

 private:
  TempFile& tmp_;
  std::optional<webc::Sha256> hasher_;  // reset by re-creating: Sha256 is not assignable
  uint64_t size_ = 0;
  std::vector<std::byte> buffer_;
};

// Locks `dir/sub/hex` with flock `op`, creating it. The evictor unlinks the
// lock files of what it evicts while it holds them, so a lock taken on a file
// that is no longer at its path protects nothing: open the path again. With
// LOCK_NB, a held lock gives an fd of -1.
Result<webc::UniqueFd> LockRecord(const std::string& dir, const char* sub, const std::string& hex,
                                  int op) {
  const std::string sub_dir = dir + "/" + sub;
  if (::mkdir(sub_dir.c_str(), 0755) != 0 && errno != EEXIST) return Error::Io(sub_dir, errno);
  const std::string path = sub_dir + "/" + hex;
  while (true) {
    // Read-only: an fd open for writing would keep the cache's filesystem
    // from being remounted read-only.
    webc::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return Error::Io(path, errno);
    if (::flock(fd.get(), op) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK) return webc::UniqueFd();
      return Error::Io(path, errno);
    }
    struct stat held, now;
    if (::fstat(fd.get(), &held) != 0) return Error::Io(path, errno);
    if (::stat(path.c_str(), &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev) {
      return fd;
    }
  }
}

// An exclusive lock on `locks/<hex>` in `dir`, released when the descriptor closes.
Result<webc::UniqueFd> LockEntry(const std::string& dir, const std::string& hex) {
  return LockRecord(dir, "locks", hex, LOCK_EX);
}

}  // namespace

Result<CachedFile> ContentCache::Store(std::string_view sha256_hex,
                                       const std::function<Result<void>(EntryWriter&)>& fill,
                                       bool* filled) const {
  if (filled != nullptr) *filled = false;
  auto hex = ParseSha256Hex(sha256_hex);
  if (!hex) return std::move(hex).error();
  auto existing = Find(*hex);
  if (existing || existing.error().code() != Error::Code::kNotFound) return existing;
  auto lock = LockEntry(dir_, *hex);
  if (!lock) return std::move(lock).error();
  // Another process may have filled it while we waited for the lock.
  existing = Find(*hex);
  if (existing || existing.error().code() != Error::Code::kNotFound) return existing;
  auto tmp = TempFile::Create(dir_);
  if (!tmp) return std::move(tmp).error();
  TempEntryWriter writer(*tmp);
  if (filled != nullptr) *filled = true;
  WEBCFS_RETURN_IF_ERROR(fill(writer));
  WEBCFS_RETURN_IF_ERROR(writer.Flush());
  std::string actual = writer.Hex();
  if (actual != *hex) {
    return Error::Integrity("sha256 mismatch: expected " + *hex + ", actual " + actual);
  }
  std::string target = EntryPath(*hex);
  auto committed = tmp->Commit(target);
  if (!committed) return std::move(committed).error();
  RecordVerified(dir_, target, *hex, *committed);
  return CachedFile{*hex, target, *committed, std::nullopt};
}

CacheLease::~CacheLease() {
  if (fd_.get() >= 0) (void)::futimens(fd_.get(), nullptr);  // the entry's last use
}

Result<std::shared_ptr<const CacheLease>> ContentCache::Lease(std::string_view sha256_hex) const {
  auto hex = ParseSha256Hex(sha256_hex);
  if (!hex) return std::move(hex).error();
  auto fd = LockRecord(dir_, "leases", *hex, LOCK_SH);
  if (!fd) {
    // A cache this process cannot write to, it cannot evict from either.
    const int err = fd.error().sys_errno();
    if (err == EROFS || err == EACCES) return std::shared_ptr<const CacheLease>();
    return std::move(fd).error();
  }
  (void)::futimens(fd->get(), nullptr);
  return std::make_shared<const CacheLease>(std::move(*fd));
}

namespace {

struct EntryUse {
  std::string hex;       // the entry's name: a container's hash, or a header digest
  bool partial = false;  // a partial entry (PartialEntryBase)
  uint64_t size = 0;
  int64_t last_use_ns = 0;
};

int64_t Nanoseconds(const struct timespec& t) {
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// `name` is `<64 hex><suffix>`: the hex, else nullopt.
std::optional<std::string> HexNamed(const std::string& name, std::string_view suffix) {
  if (name.size() != 64 + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  auto hex = ParseSha256Hex(name.substr(0, 64));
  if (!hex || *hex != name.substr(0, 64)) return std::nullopt;
  return *hex;
}

// The partial entries of `dir` (its data file, its state file or both), by
// the bytes they take on disk, since the data file is sparse. Last use: the
// later mtime of the two; a mount writes the state file when it opens the
// entry and after each fetch, and touches it when it lets go.
void ListPartialEntries(const std::string& dir, std::vector<EntryUse>& entries) {
  std::map<std::string, EntryUse> partial;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir + "/" + kPartialDir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    auto hex = HexNamed(name, ".webc");
    if (!hex) hex = HexNamed(name, ".state");
    struct stat st;
    if (!hex || ::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    EntryUse& e = partial[*hex];
    e.hex = *hex;
    e.partial = true;
    e.size += static_cast<uint64_t>(st.st_blocks) * 512;
    e.last_use_ns = std::max(e.last_use_ns, Nanoseconds(st.st_mtim));
  }
  for (auto& [hex, e] : partial) entries.push_back(std::move(e));
}

// The entries of `dir` (`<64 hex>.webc`) and its partial entries, oldest
// last use first.
std::vector<EntryUse> ListEntries(const std::string& dir) {
  std::vector<EntryUse> entries;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto hex = HexNamed(it->path().filename().string(), ".webc");
    struct stat st;
    if (!hex || ::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // A lease is taken before its entry is made, and touched at every taking
    // and release; an entry nobody leased was last used when it was made.
    EntryUse e{*hex, false, static_cast<uint64_t>(st.st_size), Nanoseconds(st.st_ctim)};
    struct stat lease;
    if (::stat((dir + "/leases/" + *hex).c_str(), &lease) == 0) {
      e.last_use_ns = Nanoseconds(lease.st_mtim);
    }
    entries.push_back(std::move(e));
  }
  ListPartialEntries(dir, entries);
  std::sort(entries.begin(), entries.end(), [](const EntryUse& a, const EntryUse& b) {
    return std::tie(a.last_use_ns, a.hex) < std::tie(b.last_use_ns, b.hex);
  });
  return entries;
}

// Removes the entry `hex` with its records unless it is leased: false then.
Result<bool> RemoveEntry(const std::string& dir, const std::string& entry_path,
                         const std::string& hex) {
  auto lease = LockRecord(dir, "leases", hex, LOCK_EX | LOCK_NB);
  if (!lease) return std::move(lease).error();
  if (lease->get() < 0) return false;
  // The entry first: once it is gone, its records describe nothing.
  if (::unlink(entry_path.c_str()) != 0 && errno != ENOENT) return Error::Io(entry_path, errno);
  ::unlink(RecordPath(dir, kVerifiedRecord, hex).c_str());
  ::unlink(RecordPath(dir, kAcceptedRecord, hex).c_str());
  if (auto fill = LockRecord(dir, "locks", hex, LOCK_EX | LOCK_NB); fill && fill->get() >= 0) {
    ::unlink((dir + "/locks/" + hex).c_str());
  }
  ::unlink((dir + "/leases/" + hex).c_str());
  return true;
}

// Removes the partial entry `hex` unless a mount owns it: false then. The
// owner holds an exclusive flock on the data file, so taking it without
// blocking, on the file still at its path, proves that none does; a mount
// opening the file meanwhile fails to lock it or finds it gone from its
// path, and opens the path again (lazy_source.cc, OpenLocalCopy).
Result<bool> RemovePartialEntry(const std::string& dir, const std::string& hex) {
  auto owner = LockRecord(dir, kPartialDir, hex + ".webc", LOCK_EX | LOCK_NB);
  if (!owner) return std::move(owner).error();
  if (owner->get() < 0) return false;
  // The state first: a data file without one is an empty partial entry.
  const std::string base = PartialEntryBase(dir, hex);
  for (const char* suffix : {".state", ".state.tmp", ".webc"}) {
    const std::string path = base + suffix;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::Io(path, errno);
  }
  return true;
}

// Source records that name an evicted entry lead nowhere: removed.
void RemoveSourceRecordsOf(const std::string& dir, const std::set<std::string>& evicted) {
  std::error_code ec;
  const std::string sources = dir + "/" + kSourceRecord.subdir;
  for (std::filesystem::directory_iterator it(sources, ec), end; !ec && it != end;
       it.increment(ec)) {
    auto fd = OpenRead(it->path().string());
    if (!fd) continue;
    char buf[256];
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n <= 0) continue;
    std::string_view line(buf, static_cast<size_t>(n));
    line = line.substr(0, line.find('\n'));
    const size_t space = line.rfind(' ');
    if (space != std::string_view::npos && evicted.contains(std::string(line.substr(space + 1)))) {
      ::unlink(it->path().c_str());
    }
  }
}

}  // namespace

Result<EvictResult> ContentCache::Evict(uint64_t max_bytes) const {
  EvictResult result;
  std::vector<EntryUse> entries = ListEntries(dir_);
  for (const EntryUse& e : entries) result.bytes_before += e.size;
  result.bytes_after = result.bytes_before;
  std::set<std::string> evicted;
  for (const EntryUse& e : entries) {
    if (result.bytes_after <= max_bytes) break;
    auto removed =
        e.partial ? RemovePartialEntry(dir_, e.hex) : RemoveEntry(dir_, EntryPath(e.hex), e.hex);
    if (!removed) return std::move(removed).error();
    if (!*removed) {
      ++result.busy;
      continue;
    }
    if (!e.partial) evicted.insert(e.hex);
    ++result.evicted;
    result.bytes_after -= e.size;
  }
  if (!evicted.empty()) RemoveSourceRecordsOf(dir_, evicted);
  return result;
}

std::string PartialEntryBase(const std::string& dir, std::string_view header_sha256_hex) {
  return dir + "/" + kPartialDir + "/" + std::string(header_sha256_hex);
}

std::string DefaultCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/webcfs";
  if (::geteuid() == 0) return "/var/cache/webcfs";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.cache/webcfs";
  return "";
}

Result<bool> IsZstdFile(const std::string& path) {
  auto fd = OpenRead(path);
  if (!fd) return std::move(fd).error();
  return HasZstdMagic(fd->get(), path);
}

Result<std::string> HashContainerFile(const std::string& path, uint64_t max_decompressed) {
  auto fd = OpenRead(path);
  if (!fd) return std::move(fd).error();
  auto stamp = Stat(fd->get(), path);
  if (!stamp) return std::move(stamp).error();
  if (auto known = KnownSourceHash(path, *stamp)) return *known;
  auto zstd = HasZstdMagic(fd->get(), path);
  if (!zstd) return std::move(zstd).error();
  auto hex = HashFd(fd->get(), *zstd, path, max_decompressed);
  if (!hex) return std::move(hex).error();
  RememberSourceHash(path, *stamp, *hex);
  return *hex;
}

}  // namespace webcfs::resolver
