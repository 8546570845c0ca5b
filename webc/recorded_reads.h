// RecordedReads: copies of byte ranges a container open read, and the ByteSource
// wrappers that record them and serve reads from them.
//
// Why: a lazily opened volume (OpenOptions::lazy_directories) reads one small
// record per child when it lists a directory whose children's records lie far
// apart, one system call each. Wasmer writes records depth-first, so a wide
// root costs a thousand reads at every mount. The resolver records what the
// open and the root listings read, once, keyed to the file version like its
// other cache records, and the next open reads those bytes from one file
// (docs/resolution.md, "Accepted records").
//
// A copy is only ever used for a read it covers entirely; everything else
// goes to the wrapped source, so a missing or partial copy costs speed, not
// correctness. Copies are decoded with the same checks as file bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "webc/base/result.h"
#include "webc/byte_source.h"

namespace webcfs::webc {

class RecordedReads {
 public:
  // Reads larger than this are not worth a copy: one system call reads them
  // either way.
  static constexpr size_t kMaxCopiedRead = size_t{64} << 10;
  // The most bytes a set of copies holds (a root of ~15,000 children).
  static constexpr size_t kMaxBytes = size_t{2} << 20;

  struct Span {
    uint64_t offset;  // in the source
    uint32_t length;
    uint64_t at;  // in bytes()
  };

  // Adds a copy of [offset, offset + bytes.size()). False (and no change)
  // when it is too large or would pass kMaxBytes. A span at an offset that
  // already has one keeps the longer copy.
  bool Add(uint64_t offset, ByteView bytes);

  // The n bytes at `offset` when one copy covers them all, else nullopt.
  std::optional<ByteView> Find(uint64_t offset, size_t n) const;

  bool empty() const { return spans_.empty(); }
  size_t byte_count() const { return bytes_.size(); }

  // A flat encoding for a cache record: per span, offset (u64 LE), length
  // (u32 LE), bytes, in increasing offset order. Decode takes the buffer that
  // holds it at `from` and keeps it, copying nothing: a mount reads the record
  // into fresh memory once, and fresh pages are what costs (docs/performance.md,
  // "Fresh memory and page faults"). It refuses anything malformed with an error that says what.
  std::vector<std::byte> Encode() const;
  static Result<RecordedReads> Decode(std::vector<std::byte> buffer, size_t from = 0);

 private:
  std::vector<Span> spans_;       // sorted by offset, one per offset
  std::vector<std::byte> bytes_;  // the spans' bytes (and, decoded, the encoding around them)
};

// Wraps `inner`, adding a copy of every read of at most
// RecordedReads::kMaxCopiedRead bytes to `*copies` (which must outlive it).
std::shared_ptr<const ByteSource> RecordingSource(std::shared_ptr<const ByteSource> inner,
                                                  RecordedReads* copies);

// Wraps `inner`, serving every read that one of `copies` covers from it.
// Everything else, fd() included, is the inner source's.
std::shared_ptr<const ByteSource> ReplayingSource(std::shared_ptr<const ByteSource> inner,
                                                  RecordedReads copies);

}  // namespace webcfs::webc
