#include "webc/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>

#include "webc/base/regular_file.h"
#include "webc/base/unique_fd.h"

namespace webcfs::webc {
namespace {

Error OutOfRange(const std::string& name, uint64_t offset, size_t n, uint64_t size) {
  return Error::Io(name + ": read of " + std::to_string(n) + " bytes at offset " +
                   std::to_string(offset) + " is past the end (" + std::to_string(size) +
                   " bytes)");
}

bool InRange(uint64_t offset, size_t n, uint64_t size) {
  return offset <= size && n <= size - offset;
}

class FileSource final : public ByteSource {
 public:
  FileSource(UniqueFd fd, uint64_t size, std::string name)
      : fd_(std::move(fd)), size_(size), name_(std::move(name)) {}

  uint64_t size() const override { return size_; }
  int fd() const override { return fd_.get(); }
  const std::string& name() const override { return name_; }

  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    if (!InRange(offset, n, size_)) return OutOfRange(name_, offset, n, size_);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_.get(), scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Error::Io(name_ + ": read at offset " + std::to_string(offset + done), errno);
      }
      // The file shrank after it was opened: report, never hand out stale bytes.
      if (r == 0) return Error::Io(name_ + ": file is shorter than when opened (truncated?)");
      done += static_cast<size_t>(r);
    }
    return ByteView(scratch, n);
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
  std::string name_;
};

class InMemorySource final : public ByteSource {
 public:
  InMemorySource(std::vector<std::byte> bytes, std::string name)
      : bytes_(std::move(bytes)), name_(std::move(name)) {}

  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }

  Result<ByteView> Read(uint64_t offset, size_t n, std::byte*) const override {
    if (!InRange(offset, n, bytes_.size())) return OutOfRange(name_, offset, n, bytes_.size());
    return ByteView(bytes_.data() + offset, n);
  }

 private:
  std::vector<std::byte> bytes_;
  std::string name_;
};

constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

bool IsZstd(const ByteSource& src) {
  std::byte head[4];
  auto r = src.Read(0, 4, head);
  return r && std::memcmp(r->data(), kZstdMagic, 4) == 0;
}

// Streams the whole zstd input through a decompression context, refusing to
// grow past `limit` (a zstd bomb is a refusal, not an OOM).
Result<std::vector<std::byte>> Decompress(const ByteSource& src, uint64_t limit) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return Error::ResourceLimit(src.name() + ": cannot allocate zstd context");
  std::vector<std::byte> out;
  std::vector<std::byte> in_buf(ZSTD_DStreamInSize());
  std::vector<std::byte> out_buf(ZSTD_DStreamOutSize());
  uint64_t pos = 0;
  size_t last_ret = 1;
  while (pos < src.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(in_buf.size(), src.size() - pos));
    auto chunk = src.Read(pos, n, in_buf.data());
    if (!chunk) return std::move(chunk).error();
    pos += n;
    ZSTD_inBuffer input{chunk->data(), chunk->size(), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out_buf.data(), out_buf.size(), 0};
      last_ret = ZSTD_decompressStream(ctx.get(), &output, &input);
      if (ZSTD_isError(last_ret)) {
        return Error::Corrupt(src.name() + ": zstd: " + ZSTD_getErrorName(last_ret));
      }
      if (out.size() + output.pos > limit) {
        return Error::ResourceLimit(src.name() + ": decompresses to more than " +
                                    std::to_string(limit) + " bytes (limit)");
      }
      out.insert(out.end(), out_buf.data(), out_buf.data() + output.pos);
    }
  }
  if (last_ret != 0) return Error::Corrupt(src.name() + ": zstd: truncated frame");
  return out;
}

}  // namespace

Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path,
                                                   const std::string& name) {
  struct stat st {};
  auto fd = OpenRegularFile(path, &st);
  if (!fd) return std::move(fd).error();
  return std::unique_ptr<ByteSource>(std::make_unique<FileSource>(
      std::move(*fd), static_cast<uint64_t>(st.st_size), name.empty() ? path : name));
}

std::unique_ptr<ByteSource> MemorySource(std::vector<std::byte> bytes, std::string name) {
  return std::make_unique<InMemorySource>(std::move(bytes), std::move(name));
}

std::unique_ptr<ByteSource> MemorySource(std::string_view bytes, std::string name) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  return MemorySource(std::vector<std::byte>(p, p + bytes.size()), std::move(name));
}

Result<std::unique_ptr<ByteSource>> OpenContainerSource(const std::string& path,
                                                        uint64_t max_decompressed) {
  auto file = OpenFileSource(path);
  if (!file) return file;
  if (!IsZstd(**file)) return file;
  auto bytes = Decompress(**file, max_decompressed);
  if (!bytes) return std::move(bytes).error();
  return MemorySource(std::move(*bytes), path);
}

Result<std::vector<std::byte>> ReadAll(const ByteSource& src, uint64_t offset, size_t n) {
  std::vector<std::byte> buf(n);
  auto view = src.Read(offset, n, buf.data());
  if (!view) return std::move(view).error();
  if (view->data() != buf.data()) std::memcpy(buf.data(), view->data(), n);
  return buf;
}

}  // namespace webcfs::webc
