// Reader for WEBC v1 (docs/webc-format.md §3): a fixed 1308-byte header, then
// LEB128-framed manifest, atoms volume and named volumes, walked in order.
#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "webc/byte_cursor.h"
#include "webc/container_internal.h"
#include "webc/volume_tree_internal.h"

namespace webcfs::webc {
namespace {

// §3.1
constexpr uint64_t kHeaderSize = 1308;
constexpr uint64_t kChecksumTypeOffset = 8;
constexpr uint64_t kChecksumTypeSize = 16;
constexpr uint64_t kSignatureLengthOffset = 280;
constexpr uint32_t kMaxSignatureLength = 1024;  // readers clamp to the field size
// §3.4: entry = 7-byte name length + type byte, start, end, then the name.
constexpr uint64_t kEntryFixedSize = 24;
constexpr uint8_t kTypeDirectory = 0;
constexpr uint8_t kTypeFile = 1;
constexpr uint64_t kMaxVolumeNameBytes = 4096;
constexpr size_t kMaxLeb128Bytes = 10;

// Checksum types (§3.1); any other string is an error (§3.2).
constexpr std::string_view kChecksumTypes[] = {"----------------", "sha256----------",
                                               "sha256-signed---"};

// Reads the body of a v1 file sequentially through the source.
class BodyReader {
 public:
  BodyReader(const ByteSource& src, uint64_t pos, uint64_t end) : src_(src), pos_(pos), end_(end) {}

  uint64_t position() const { return pos_; }
  bool at_end() const { return pos_ >= end_; }

  Result<uint64_t> Leb128(const std::string& what) {
    std::byte raw[kMaxLeb128Bytes];
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxLeb128Bytes, end_ - pos_));
    auto v = src_.Read(pos_, n, raw);
    if (!v) return std::move(v).error();
    ByteCursor c(*v);
    uint64_t out = 0;
    if (!c.ReadUleb128(&out)) {
      return Error::Corrupt(what + ": length (LEB128) at offset " + std::to_string(pos_) +
                            " is truncated or too large");
    }
    pos_ += c.position();
    return out;
  }

  // Claims the next `n` bytes, returning their absolute offset.
  Result<uint64_t> Take(uint64_t n, const std::string& what) {
    if (n > end_ - pos_) {
      return Error::Corrupt(what + ": length " + std::to_string(n) + " at offset " +
                            std::to_string(pos_) + " runs past the end (" +
                            std::to_string(end_ - pos_) + " bytes left)");
    }
    const uint64_t at = pos_;
    pos_ += n;
    return at;
  }

 private:
  const ByteSource& src_;
  uint64_t pos_;
  const uint64_t end_;
};

// Decodes the directory listings of one v1 volume header (§3.4). A listing is
// `u64 byte_len` + entries; directory entries point at their listing with a
// [start, end) range inside the header.
class ListingDecoder {
 public:
  ListingDecoder(ByteView header, uint64_t data_offset, uint64_t data_length)
      : header_(header), data_offset_(data_offset), data_length_(data_length) {}

  Result<void> List(uint64_t start, VolumeTreeBuilder& tree) const {
    ByteCursor in(header_);
    uint64_t length = 0;
    ByteView body;
    if (!in.Seek(start) || !in.ReadU64Le(&length) || !in.ReadBytes(length, &body)) {
      return Error::Corrupt("listing at header offset " + std::to_string(start) +
                            " runs past the end of the volume header (" +
                            std::to_string(header_.size()) + " bytes)");
    }
    ByteCursor entries(body);
    while (!entries.empty()) {
      uint64_t word = 0;
      uint64_t begin = 0;
      uint64_t end = 0;
      ByteView name;
      if (!entries.ReadU64Le(&word) || !entries.ReadU64Le(&begin) || !entries.ReadU64Le(&end) ||
          !entries.ReadBytes(word & 0x00ff'ffff'ffff'ffffULL, &name)) {
        return Error::Corrupt("listing at header offset " + std::to_string(start) + ": entry " +
                              std::to_string(tree.entry_count()) + " runs past its end");
      }
      const auto type = static_cast<uint8_t>(word >> 56);
      const std::string_view name_text = AsChars(name);
      Entry e;
      uint64_t listing = VolumeTreeBuilder::kNoListing;
      if (type == kTypeDirectory) {
        e.type = EntryType::kDirectory;
        auto checked = CheckDirectoryRange(begin, end);
        if (!checked)
          return std::move(checked).error().With("entry '" + Printable(name_text) + "'");
        if (begin != end) listing = begin;
      } else if (type == kTypeFile) {
        if (begin > end || end > data_length_) {
          return Error::Corrupt("entry '" + Printable(name_text) + "': file range [" +
                                std::to_string(begin) + ", " + std::to_string(end) +
                                ") is outside the volume data (" + std::to_string(data_length_) +
                                " bytes)");
        }
        e.SetFile(data_offset_ + begin);
        e.size = end - begin;
      } else {
        return Error::Corrupt("entry '" + Printable(name_text) + "': unknown type " +
                              std::to_string(type));
      }
      WEBCFS_RETURN_IF_ERROR(tree.AddChild(name_text, e, listing));
    }
    return Ok();
  }

  // A directory's [begin, end) must hold its whole listing inside the header;
  // begin == end is an empty directory.
  Result<void> CheckDirectoryRange(uint64_t begin, uint64_t end) const {
    if (begin > end || end > header_.size()) {
      return Error::Corrupt("directory range [" + std::to_string(begin) + ", " +
                            std::to_string(end) + ") is outside the volume header (" +
                            std::to_string(header_.size()) + " bytes)");
    }
    if (begin == end) return Ok();
    ByteCursor in(header_.subspan(begin, end - begin));
    uint64_t length = 0;
    if (!in.ReadU64Le(&length) || length > in.remaining()) {
      return Error::Corrupt("directory listing at header offset " + std::to_string(begin) +
                            " does not fit its range [" + std::to_string(begin) + ", " +
                            std::to_string(end) + ")");
    }
    return Ok();
  }

 private:
  const ByteView header_;
  const uint64_t data_offset_;
  const uint64_t data_length_;
};

// One v1 volume occupying [offset, offset + length): `uleb128 header_len`,
// header, then data to the end of the volume.
Result<Volume> ReadVolume(const ByteSource& src, uint64_t offset, uint64_t length, std::string name,
                          std::string label, const OpenOptions& options, uint64_t& budget) {
  Entry root;
  root.type = EntryType::kDirectory;
  if (length == 0) {  // tolerated: no header at all is an empty volume
    VolumeTreeBuilder tree(std::move(name), label, options.max_depth, budget);
    return tree.Build(root, VolumeTreeBuilder::kNoListing, nullptr);
  }
  BodyReader in(src, offset, offset + length);
  auto header_length = in.Leb128(label + ": header");
  if (!header_length) return std::move(header_length).error();
  auto header_offset = in.Take(*header_length, label + ": header");
  if (!header_offset) return std::move(header_offset).error();
  const uint64_t data_offset = in.position();
  const uint64_t data_length = offset + length - data_offset;

  ReadBuffer header_buf;
  auto header = ReadRegion(src, *header_offset, *header_length, header_buf);
  if (!header) return std::move(header).error();
  ListingDecoder decoder(*header, data_offset, data_length);

  // Every entry takes at least 25 header bytes in its parent's listing; the
  // cap keeps overlapping listings from multiplying into more entries.
  const uint64_t density_cap = *header_length / (kEntryFixedSize + 1) + 1;
  VolumeTreeBuilder tree(std::move(name), label, options.max_depth, std::min(budget, density_cap));
  uint64_t root_listing = VolumeTreeBuilder::kNoListing;
  if (*header_length > 0) {
    // The root listing is at header offset 0 and must fit in the header.
    auto fits = decoder.CheckDirectoryRange(0, *header_length);
    if (!fits) return std::move(fits).error().With(label + ": root directory");
    root_listing = 0;
  }
  auto volume = tree.Build(
      root, root_listing, [&](uint64_t ref, VolumeTreeBuilder& t) { return decoder.List(ref, t); });
  if (!volume) return std::move(volume).error();
  budget -= volume->entries().size();
  return volume;
}

}  // namespace

Result<void> ReadV1(ContainerBuilder& b, const OpenOptions& options) {
  const ByteSource& src = b.source();
  if (src.size() < kHeaderSize) {
    return Error::Corrupt("v1 header truncated: file is " + std::to_string(src.size()) +
                          " bytes, the header alone is " + std::to_string(kHeaderSize));
  }
  ReadBuffer buf;
  auto header = ReadRegion(src, 0, kHeaderSize, buf);
  if (!header) return std::move(header).error();

  V1ChecksumInfo checksum;
  checksum.type = std::string(AsChars(header->subspan(kChecksumTypeOffset, kChecksumTypeSize)));
  if (std::find(std::begin(kChecksumTypes), std::end(kChecksumTypes), checksum.type) ==
      std::end(kChecksumTypes)) {
    return Error::Corrupt("unknown v1 checksum type '" + Printable(checksum.type) + "'");
  }
  ByteCursor sig(header->subspan(kSignatureLengthOffset, 4));
  (void)sig.ReadU32Le(&checksum.signature_len);
  checksum.signature_len = std::min(checksum.signature_len, kMaxSignatureLength);
  b.SetV1Checksum(std::move(checksum));

  BodyReader body(src, kHeaderSize, src.size());

  // 1. Manifest.
  auto manifest_length = body.Leb128("manifest");
  if (!manifest_length) return std::move(manifest_length).error();
  ManifestLimits limits;
  if (*manifest_length > limits.max_bytes) {
    return Error::ResourceLimit("manifest of " + std::to_string(*manifest_length) +
                                " bytes is larger than the limit");
  }
  auto manifest_offset = body.Take(*manifest_length, "manifest");
  if (!manifest_offset) return std::move(manifest_offset).error();
  auto manifest_bytes = ReadRegion(src, *manifest_offset, *manifest_length, buf);
  if (!manifest_bytes) return std::move(manifest_bytes).error();
  auto manifest = DecodeManifest(*manifest_bytes, limits);
  if (!manifest) return std::move(manifest).error();
  b.SetManifest(std::move(*manifest));

  uint64_t budget = options.max_entries;

  // 2. Atoms volume.
  auto atoms_length = body.Leb128("atoms volume");
  if (!atoms_length) return std::move(atoms_length).error();
  auto atoms_offset = body.Take(*atoms_length, "atoms volume");
  if (!atoms_offset) return std::move(atoms_offset).error();
  auto atoms =
      ReadVolume(src, *atoms_offset, *atoms_length, "atoms", "atoms volume", options, budget);
  if (!atoms) return std::move(atoms).error();
  b.SetAtoms(std::move(*atoms));

  // 3. Named volumes until the end of the file.
  std::set<std::string, std::less<>> seen;
  while (!body.at_end()) {
    auto name_length = body.Leb128("volume name");
    if (!name_length) return std::move(name_length).error();
    if (*name_length > kMaxVolumeNameBytes) {
      return Error::Corrupt("volume name of " + std::to_string(*name_length) + " bytes at offset " +
                            std::to_string(body.position()) + " is too long");
    }
    auto name_offset = body.Take(*name_length, "volume name");
    if (!name_offset) return std::move(name_offset).error();
    ReadBuffer name_buf;
    auto name_bytes = ReadRegion(src, *name_offset, *name_length, name_buf);
    if (!name_bytes) return std::move(name_bytes).error();
    std::string name(AsChars(*name_bytes));
    const std::string label = "volume '" + Printable(name) + "'";
    if (!seen.insert(name).second) return Error::Corrupt(label + " appears twice");

    auto volume_length = body.Leb128(label);
    if (!volume_length) return std::move(volume_length).error();
    auto volume_offset = body.Take(*volume_length, label);
    if (!volume_offset) return std::move(volume_offset).error();
    auto volume = ReadVolume(src, *volume_offset, *volume_length, name, label, options, budget);
    if (!volume) return std::move(volume).error();
    b.AddVolume(std::move(*volume));
  }
  return Ok();
}

}  // namespace webcfs::webc
