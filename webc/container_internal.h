// How the version readers fill a Container (LevelDB's db/*_internal.h idea):
// Container's constructor is private; a reader gets a ContainerBuilder, sets
// what it decoded, and Container::Open takes the result.
//
// Internal to webc/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "webc/base/result.h"
#include "webc/byte_source.h"
#include "webc/container.h"

namespace webcfs::webc {

class ContainerBuilder {
 public:
  ContainerBuilder(std::shared_ptr<const ByteSource> source, Version version);

  const ByteSource& source() const { return *container_->source_; }
  std::shared_ptr<const ByteSource> shared_source() const { return container_->source_; }
  Version version() const { return container_->version_; }

  void SetManifest(Manifest manifest) { container_->manifest_ = std::move(manifest); }
  void SetAtoms(Volume atoms) { container_->atoms_ = std::move(atoms); }
  void AddVolume(Volume volume) { container_->volumes_.push_back(std::move(volume)); }
  void SetV1Checksum(V1ChecksumInfo info) { container_->v1_checksum_ = std::move(info); }
  void SetIndexPadding(uint64_t padding) { container_->index_padding_ = padding; }
  // A stored SHA-256 of [offset, offset + length) that Verify() checks.
  void AddSectionHash(std::string what, uint64_t offset, uint64_t length,
                      const Sha256Digest& expected);
  // A mismatch found while parsing that only Verify() reports (parsing does not
  // judge hashes, docs/webc-format.md §5.2). Only the first is kept.
  void NoteIntegrityIssue(std::string message);

  std::unique_ptr<Container> Finish() { return std::move(container_); }

 private:
  std::unique_ptr<Container> container_;
};

// The version readers. Each decodes every piece of metadata the format has
// and leaves file contents in the source. Errors are not yet prefixed with the
// source name (Container::Open does that).
Result<void> ReadV1(ContainerBuilder& builder, const OpenOptions& options);
// v2 and v3 share the index and volume-header code (§4, §5).
Result<void> ReadV2OrV3(ContainerBuilder& builder, const OpenOptions& options);

// Scratch memory for ByteSource reads while parsing. Unlike std::vector it
// does not zero what the read overwrites anyway (a 100 MB volume header would
// otherwise be memset first), and it only grows. A large buffer is mapped on
// transparent huge pages, populated in one call: taking a fault per 4 KiB
// while the read fills it would cost more than the read (docs/performance.md,
// "Fresh memory and page faults").
class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer() { Release(); }

  // Room for `n` bytes; nullptr when the memory cannot be had (or n is 0). `will_fill`:
  // the caller is about to write all of it (a file read), so a large buffer
  // is populated up front; an in-memory source never touches it.
  std::byte* Get(size_t n, bool will_fill = true);

 private:
  void Release();

  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  bool mapped_ = false;
};

// The v2/v3 index section's payload (the first section; tag and size checked).
Result<ByteView> ReadIndexPayload(const ByteSource& src, ReadBuffer& buffer);

// [offset, offset + n) of `src`, checked against its size first (Corrupt),
// then read into `buffer` or viewed in the source's memory.
Result<ByteView> ReadRegion(const ByteSource& src, uint64_t offset, uint64_t n, ReadBuffer& buffer);

// Escapes control bytes and backslashes (\xNN) so that a hostile name cannot
// break an error message or a terminal.
std::string Printable(std::string_view text);

}  // namespace webcfs::webc
