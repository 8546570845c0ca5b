// ByteSource: the only way webc/ reads container bytes (docs/architecture.md,
// "Reading bytes").
//
// Thread-safety: every method is safe to call concurrently.
// Lifetime: a ByteSource outlives every view it hands out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::webc {

using ByteView = std::span<const std::byte>;

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Size of the source in bytes, fixed when the source was opened.
  virtual uint64_t size() const = 0;

  // A view of [offset, offset + n). The view points either into `scratch`
  // (which must hold n bytes) or into memory the source owns. A range past
  // size(), or a short read because the file shrank underneath, is an Error
  // (kIo), never a crash.
  virtual Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const = 0;

  // File descriptor positioned reads can use (pread/splice), or -1 for
  // in-memory sources.
  virtual int fd() const { return -1; }

  // Whether Read(offset, n) can be answered from bytes already at hand,
  // without a network request or a wait. False for a lazy remote source's
  // bytes not yet fetched and verified, so that optional readers (the
  // small-file push) can skip them instead of downloading what nobody asked for.
  virtual bool IsLocal(uint64_t /*offset*/, size_t /*n*/) const { return true; }

  // What the source is, for error messages (usually the file path).
  virtual const std::string& name() const = 0;
};

// Reads with pread(2) on an open descriptor: a file truncated underneath turns
// into an Io error instead of SIGBUS. The descriptor is opened O_RDONLY|O_CLOEXEC.
// The source is named `name` when given (a file read before it is renamed
// into place), else `path`.
Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path,
                                                   const std::string& name = {});

// Owns its bytes; for tests, fuzzing and decompressed `.webc.zst` containers.
std::unique_ptr<ByteSource> MemorySource(std::vector<std::byte> bytes,
                                         std::string name = "<memory>");
std::unique_ptr<ByteSource> MemorySource(std::string_view bytes, std::string name = "<memory>");

// Opens `path` for reading as a container: a zstd-compressed file (detected by
// its magic number, whatever its name) is decompressed into memory, refusing
// output larger than `max_decompressed` (kResourceLimit); anything else is
// read with OpenFileSource. Errors name the path.
Result<std::unique_ptr<ByteSource>> OpenContainerSource(const std::string& path,
                                                        uint64_t max_decompressed);

// Reads all of [offset, offset+n) of a source into a vector (for small metadata).
Result<std::vector<std::byte>> ReadAll(const ByteSource& src, uint64_t offset, size_t n);

}  // namespace webcfs::webc
