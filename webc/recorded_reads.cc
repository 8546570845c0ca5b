#include "webc/recorded_reads.h"

#include <algorithm>
#include <mutex>
#include <string>

#include "webc/byte_cursor.h"

namespace webcfs::webc {

bool RecordedReads::Add(uint64_t offset, ByteView bytes) {
  if (bytes.size() > kMaxCopiedRead || bytes_.size() + bytes.size() > kMaxBytes) return false;
  auto at = std::lower_bound(spans_.begin(), spans_.end(), offset,
                             [](const Span& s, uint64_t o) { return s.offset < o; });
  if (at != spans_.end() && at->offset == offset) {
    if (at->length >= bytes.size()) return true;
    at->length = static_cast<uint32_t>(bytes.size());  // the shorter copy's bytes stay unused
    at->at = bytes_.size();
  } else {
    spans_.insert(at, Span{offset, static_cast<uint32_t>(bytes.size()), bytes_.size()});
  }
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  return true;
}

std::optional<ByteView> RecordedReads::Find(uint64_t offset, size_t n) const {
  // The last span starting at or before `offset`; reads are usually repeated
  // exactly, so that is the one that covers them.
  auto after = std::upper_bound(spans_.begin(), spans_.end(), offset,
                                [](uint64_t o, const Span& s) { return o < s.offset; });
  if (after == spans_.begin()) return std::nullopt;
  const Span& s = *(after - 1);
  const uint64_t skip = offset - s.offset;
  if (skip > s.length || s.length - skip < n) return std::nullopt;
  return ByteView(bytes_.data() + s.at + skip, n);
}

std::vector<std::byte> RecordedReads::Encode() const {
  std::vector<std::byte> out;
  out.reserve(spans_.size() * 12 + bytes_.size());
  auto put = [&out](uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
  };
  for (const Span& s : spans_) {
    put(s.offset, 8);
    put(s.length, 4);
    out.insert(out.end(), bytes_.begin() + static_cast<ptrdiff_t>(s.at),
               bytes_.begin() + static_cast<ptrdiff_t>(s.at + s.length));
  }
  return out;
}

namespace {

// Reads one encoded span's header and skips its bytes; `at` is where the
// bytes start in `in`. False when the span runs past the end.
bool NextSpan(ByteCursor& in, RecordedReads::Span* span) {
  ByteView bytes;
  if (!in.ReadU64Le(&span->offset) || !in.ReadU32Le(&span->length)) return false;
  span->at = in.position();
  return in.ReadBytes(span->length, &bytes);
}

}  // namespace

Result<RecordedReads> RecordedReads::Decode(std::vector<std::byte> buffer, size_t from) {
  if (from > buffer.size()) return Error::InvalidArgument("byte copies: start past the buffer");
  // Checked in full before anything is kept, and counted so that spans_ is
  // allocated once; the second pass cannot fail.
  size_t count = 0;
  uint64_t total = 0;
  std::optional<uint64_t> previous;
  Span span{};
  for (ByteCursor in(ByteView(buffer).subspan(from)); !in.empty();) {
    if (!NextSpan(in, &span)) {
      return Error::Corrupt("byte copies: span at byte " + std::to_string(from + in.position()) +
                            " runs past the end");
    }
    if (previous && span.offset <= *previous) {
      return Error::Corrupt("byte copies: spans out of order at offset " +
                            std::to_string(span.offset));
    }
    total += span.length;
    if (span.length > kMaxCopiedRead || total > kMaxBytes) {
      return Error::ResourceLimit("byte copies: more than " + std::to_string(kMaxBytes) +
                                  " bytes, or one copy over " + std::to_string(kMaxCopiedRead));
    }
    previous = span.offset;
    ++count;
  }
  RecordedReads copies;
  copies.spans_.reserve(count);
  for (ByteCursor in(ByteView(buffer).subspan(from)); NextSpan(in, &span);) {
    span.at += from;
    copies.spans_.push_back(span);
  }
  copies.bytes_ = std::move(buffer);
  return copies;
}

namespace {

// Forwards to the inner source; the subclasses decide about Read.
class WrappedSource : public ByteSource {
 public:
  explicit WrappedSource(std::shared_ptr<const ByteSource> inner) : inner_(std::move(inner)) {}
  uint64_t size() const override { return inner_->size(); }
  int fd() const override { return inner_->fd(); }
  const std::string& name() const override { return inner_->name(); }

 protected:
  std::shared_ptr<const ByteSource> inner_;
};

class Recording final : public WrappedSource {
 public:
  Recording(std::shared_ptr<const ByteSource> inner, RecordedReads* copies)
      : WrappedSource(std::move(inner)), copies_(copies) {}

  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    auto view = inner_->Read(offset, n, scratch);
    if (view && view->size() <= RecordedReads::kMaxCopiedRead) {
      std::lock_guard<std::mutex> lock(mu_);
      (void)copies_->Add(offset, *view);  // full: the rest is read from the file
    }
    return view;
  }

 private:
  mutable std::mutex mu_;
  RecordedReads* copies_;  // guarded by mu_
};

// The copies never change after construction: reads search them without a
// lock.
class Replaying final : public WrappedSource {
 public:
  Replaying(std::shared_ptr<const ByteSource> inner, RecordedReads copies)
      : WrappedSource(std::move(inner)), copies_(std::move(copies)) {}

  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    if (n <= RecordedReads::kMaxCopiedRead) {
      if (auto copy = copies_.Find(offset, n)) return *copy;
    }
    return inner_->Read(offset, n, scratch);
  }

 private:
  const RecordedReads copies_;
};

}  // namespace

std::shared_ptr<const ByteSource> RecordingSource(std::shared_ptr<const ByteSource> inner,
                                                  RecordedReads* copies) {
  return std::make_shared<Recording>(std::move(inner), copies);
}

std::shared_ptr<const ByteSource> ReplayingSource(std::shared_ptr<const ByteSource> inner,
                                                  RecordedReads copies) {
  return std::make_shared<Replaying>(std::move(inner), std::move(copies));
}

}  // namespace webcfs::webc
