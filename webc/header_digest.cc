// The v3 header digest (docs/webc-format.md §5.4).
#include <string>
#include <vector>

#include "webc/byte_cursor.h"
#include "webc/container.h"
#include "webc/container_internal.h"
#include "webc/format_internal.h"
#include "webc/index_internal.h"

namespace webcfs::webc {
namespace {

using format::kHashSize;

// A u64 at `offset`, which must lie inside [.., end).
Result<uint64_t> U64At(const ByteSource& src, uint64_t offset, uint64_t end,
                       const std::string& what) {
  if (offset > end || end - offset < 8) return Error::Corrupt(what + ": section truncated");
  std::byte raw[8];
  auto v = src.Read(offset, 8, raw);
  if (!v) return std::move(v).error().With(what);
  ByteCursor c(*v);
  uint64_t out = 0;
  (void)c.ReadU64Le(&out);
  return out;
}

// A volume section from its tag through its data length: `tag, hash, u64
// payload length, u64 name length, name, u64 header length, header, u64 data
// length`. Read from the section's start, so that a source fetching on
// demand fetches from there.
Result<ByteRange> VolumeHeaderRange(const ByteSource& src, const SectionRef& ref) {
  const uint64_t end = ref.start + ref.length;
  constexpr uint64_t kNameLengthAt = 1 + kHashSize + 8;
  if (ref.length < kNameLengthAt + 8) return Error::Corrupt(ref.what + ": section truncated");
  ReadBuffer buf;
  auto head = ReadRegion(src, ref.start, kNameLengthAt + 8, buf);
  if (!head) return std::move(head).error().With(ref.what);
  ByteCursor in(*head);
  uint64_t name_length = 0;
  (void)in.Skip(kNameLengthAt);
  (void)in.ReadU64Le(&name_length);
  uint64_t header_at = 0;
  if (!CheckedAdd(ref.start + kNameLengthAt + 8, name_length, &header_at)) {
    return Error::Corrupt(ref.what + ": volume name length overflows");
  }
  auto header_length = U64At(src, header_at, end, ref.what);
  if (!header_length) return std::move(header_length).error();
  uint64_t data_length_at = 0;
  if (!CheckedAdd(header_at + 8, *header_length, &data_length_at) || data_length_at > end ||
      end - data_length_at < 8) {
    return Error::Corrupt(ref.what + ": volume header runs past its section");
  }
  return ByteRange{ref.start, data_length_at + 8 - ref.start};
}

}  // namespace

Result<std::vector<ByteRange>> HeaderRegions(const ByteSource& src) {
  auto version = DetectVersion(src);
  if (!version) return std::move(version).error();
  if (*version != Version::kV3) {
    return Error::Unsupported("only v3 containers have a header digest");
  }
  ReadBuffer buf;
  auto payload = ReadIndexPayload(src, buf);
  if (!payload) return std::move(payload).error();
  std::vector<ByteRange> out;
  out.push_back({format::kIndexPayloadOffset, payload->size()});
  auto index = DecodeIndex(*payload);
  if (!index) return std::move(index).error();
  auto whole = [&](const SectionRef& ref) -> Result<void> {
    if (!RangeWithin(ref.start, ref.length, src.size())) {
      return Error::Corrupt(ref.what + ": span is outside the file (" + std::to_string(src.size()) +
                            " bytes)");
    }
    out.push_back({ref.start, ref.length});
    return Ok();
  };
  WEBCFS_RETURN_IF_ERROR(whole(index->manifest));
  WEBCFS_RETURN_IF_ERROR(whole(index->atoms));
  for (const SectionRef& ref : index->volumes) {
    WEBCFS_RETURN_IF_ERROR(whole(ref));
    out.pop_back();
    auto range = VolumeHeaderRange(src, ref);
    if (!range) return std::move(range).error();
    out.push_back(*range);
  }
  return out;
}

Result<Sha256Digest> HeaderDigest(const ByteSource& src) {
  auto regions = HeaderRegions(src);
  if (!regions) return std::move(regions).error();
  Sha256 h;
  ReadBuffer buf;
  for (const ByteRange& r : *regions) {
    auto bytes = ReadRegion(src, r.offset, r.length, buf);
    if (!bytes) return std::move(bytes).error();
    h.Update(*bytes);
  }
  return h.Finish();
}

Result<std::optional<Sha256Digest>> Container::HeaderDigest() const {
  if (version_ != Version::kV3) return std::optional<Sha256Digest>();
  auto d = webc::HeaderDigest(*source_);
  if (!d) return std::move(d).error();
  return std::optional<Sha256Digest>(*d);
}

}  // namespace webcfs::webc
