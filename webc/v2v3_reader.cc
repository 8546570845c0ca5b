// Readers for WEBC v2 and v3 (docs/webc-format.md §4, §5). The two versions
// differ in three places only, captured by Layout: v3 sections carry an inline
// SHA-256 after the tag, v3 directory records carry timestamps and a hash, and
// v3 directory entries and file records carry hashes / timestamps.
#include <cstring>
#include <string>
#include <vector>

#include "webc/byte_cursor.h"
#include "webc/container_internal.h"
#include "webc/format_internal.h"
#include "webc/index_internal.h"
#include "webc/volume_tree_internal.h"

namespace webcfs::webc {
namespace {

using format::kHashSize;
using format::kMagicSize;
using format::kTagAtoms;
using format::kTagDirectory;
using format::kTagFile;
using format::kTagIndex;
using format::kTagManifest;
using format::kTagVolume;
using format::kTimestampsSize;

// The index must fit in memory comfortably; real ones are a few hundred bytes.
constexpr uint64_t kMaxIndexBytes = 64 << 20;
// Volume names are written as section payload strings; real ones are paths.
constexpr uint64_t kMaxVolumeNameBytes = 4096;

struct Layout {
  bool v3 = false;
  // tag + (v3: sha256) + u64 length
  uint64_t section_header() const { return 1 + (v3 ? kHashSize : 0) + 8; }
  // Bytes of a directory record's body before its entries (v3: timestamps + hash).
  uint64_t directory_preamble() const { return v3 ? kTimestampsSize + kHashSize : 0; }
  // Bytes of a directory entry besides its name: offset, (v3: hash), name length.
  uint64_t entry_overhead() const { return 8 + (v3 ? kHashSize : 0) + 8; }
};

// A section located through the index, with its payload range checked.
struct Section {
  uint64_t payload_offset = 0;
  uint64_t payload_length = 0;
};

Result<Section> LocateSection(ContainerBuilder& b, const Layout& layout, const SectionRef& ref,
                              uint8_t expected_tag) {
  const ByteSource& src = b.source();
  if (!RangeWithin(ref.start, ref.length, src.size())) {
    return Error::Corrupt(ref.what + ": span [" + std::to_string(ref.start) + ", +" +
                          std::to_string(ref.length) + ") is outside the file (" +
                          std::to_string(src.size()) + " bytes)");
  }
  if (ref.length < layout.section_header()) {
    return Error::Corrupt(ref.what + ": span of " + std::to_string(ref.length) +
                          " bytes is shorter than a section header");
  }
  ReadBuffer buf;
  auto head = ReadRegion(src, ref.start, layout.section_header(), buf);
  if (!head) return std::move(head).error().With(ref.what);
  ByteCursor in(*head);
  uint8_t tag = 0;
  ByteView inline_hash;
  uint64_t payload_length = 0;
  if (!in.ReadU8(&tag) || (layout.v3 && !in.ReadBytes(kHashSize, &inline_hash)) ||
      !in.ReadU64Le(&payload_length)) {
    return Error::Corrupt(ref.what + ": section header truncated");
  }
  if (tag != expected_tag) {
    return Error::Corrupt(ref.what + ": section tag is " + std::to_string(tag) + ", expected " +
                          std::to_string(expected_tag));
  }
  if (payload_length > ref.length - layout.section_header()) {
    return Error::Corrupt(ref.what + ": payload of " + std::to_string(payload_length) +
                          " bytes does not fit its span of " + std::to_string(ref.length));
  }
  Section s;
  s.payload_offset = ref.start + layout.section_header();
  s.payload_length = payload_length;
  if (ref.checksum) {
    b.AddSectionHash(ref.what + " (index checksum)", s.payload_offset, s.payload_length,
                     *ref.checksum);
  }
  if (layout.v3) {
    Sha256Digest d{};
    std::memcpy(d.data(), inline_hash.data(), d.size());
    b.AddSectionHash(ref.what + " (inline hash)", s.payload_offset, s.payload_length, d);
  }
  return s;
}

// Reads `u64 length` + that many bytes from a payload, checking the length
// against what is left of the payload before allocating anything.
class PayloadReader {
 public:
  PayloadReader(const ByteSource& src, uint64_t offset, uint64_t length, std::string what)
      : src_(src), pos_(offset), end_(offset + length), what_(std::move(what)) {}

  uint64_t position() const { return pos_; }

  Result<uint64_t> U64(const char* field) {
    if (end_ - pos_ < 8) return Truncated(field);
    std::byte raw[8];
    auto v = src_.Read(pos_, 8, raw);
    if (!v) return std::move(v).error();
    ByteCursor c(*v);
    uint64_t out = 0;
    (void)c.ReadU64Le(&out);
    pos_ += 8;
    return out;
  }

  // The next `n` bytes: checked, then read into `buffer`.
  Result<ByteView> Bytes(uint64_t n, const char* field, ReadBuffer& buffer) {
    if (n > end_ - pos_) return TooLong(field, n);
    auto v = ReadRegion(src_, pos_, n, buffer);
    if (!v) return v;
    pos_ += n;
    return v;
  }

  // Skips `n` bytes (checked): for data, which stays in the file.
  Result<uint64_t> Skip(uint64_t n, const char* field) {
    if (n > end_ - pos_) return TooLong(field, n);
    const uint64_t at = pos_;
    pos_ += n;
    return at;
  }

 private:
  Error Truncated(const char* field) const {
    return Error::Corrupt(what_ + ": truncated before the " + field + " length");
  }
  Error TooLong(const char* field, uint64_t n) const {
    return Error::Corrupt(what_ + ": " + field + " length " + std::to_string(n) +
                          " is larger than the " + std::to_string(end_ - pos_) +
                          " bytes left in the section");
  }

  const ByteSource& src_;
  uint64_t pos_;
  const uint64_t end_;
  const std::string what_;
};

// Decodes one volume header (§4.5, §5.2) into the tree builder. Record offsets
// are relative to the header; file ranges relative to the data.
class HeaderDecoder {
 public:
  HeaderDecoder(const Layout& layout, ByteView header, uint64_t header_offset, uint64_t data_offset,
                uint64_t data_length)
      : layout_(layout),
        header_(header),
        header_offset_(header_offset),
        data_offset_(data_offset),
        data_length_(data_length) {}

  // Metadata of the record at `offset` as an Entry (no name yet), plus where
  // the record stores its own hash (v2 directories: none).
  struct Record {
    Entry entry;
    ByteView own_hash;
  };

  Result<Record> Describe(uint64_t offset) const {
    ByteCursor in(header_);
    if (!in.Seek(offset)) {
      return Error::Corrupt("record offset " + std::to_string(offset) +
                            " is outside the volume header (" + std::to_string(header_.size()) +
                            " bytes)");
    }
    uint8_t tag = 0;
    if (!in.ReadU8(&tag)) return Truncated(offset);
    Record r;
    if (tag == kTagDirectory) {
      uint64_t length = 0;
      if (!in.ReadU64Le(&length)) return Truncated(offset);
      if (length > in.remaining()) {
        return Error::Corrupt("directory record at offset " + std::to_string(offset) + ": length " +
                              std::to_string(length) + " runs past the end of the volume header");
      }
      if (length < layout_.directory_preamble()) {
        return Error::Corrupt("directory record at offset " + std::to_string(offset) +
                              " is shorter than its timestamps and hash");
      }
      r.entry.type = EntryType::kDirectory;
      if (layout_.v3) {
        uint64_t accessed = 0;
        uint64_t created = 0;
        (void)in.ReadU64Le(&accessed);
        (void)in.ReadU64Le(&r.entry.mtime);
        (void)in.ReadU64Le(&created);
        r.entry.hash_offset = header_offset_ + in.position();
        (void)in.ReadBytes(kHashSize, &r.own_hash);
      }
      return r;
    }
    if (tag == kTagFile) {
      uint64_t start = 0;
      uint64_t end = 0;
      if (!in.ReadU64Le(&start) || !in.ReadU64Le(&end)) return Truncated(offset);
      const uint64_t hash_at = in.position();
      if (!in.ReadBytes(kHashSize, &r.own_hash)) return Truncated(offset);
      if (layout_.v3) {
        uint64_t accessed = 0;
        uint64_t created = 0;
        if (!in.ReadU64Le(&accessed) || !in.ReadU64Le(&r.entry.mtime) || !in.ReadU64Le(&created)) {
          return Truncated(offset);
        }
      }
      if (start > end || end > data_length_) {
        return Error::Corrupt("file record at offset " + std::to_string(offset) + ": range [" +
                              std::to_string(start) + ", " + std::to_string(end) +
                              ") is outside the volume data (" + std::to_string(data_length_) +
                              " bytes)");
      }
      r.entry.SetFile(data_offset_ + start);
      r.entry.size = end - start;
      r.entry.hash_offset = header_offset_ + hash_at;
      return r;
    }
    return Error::Corrupt("record at offset " + std::to_string(offset) + " has unknown tag " +
                          std::to_string(tag));
  }

  // ListFn for VolumeTreeBuilder: the entries of the directory record at `offset`.
  Result<void> List(uint64_t offset, VolumeTreeBuilder& tree) const {
    ByteCursor in(header_);
    uint64_t length = 0;
    ByteView body;
    // Describe() already checked tag, length and preamble for this record.
    if (!in.Seek(offset) || !in.Skip(1) || !in.ReadU64Le(&length) || !in.ReadBytes(length, &body)) {
      return Truncated(offset);
    }
    ByteCursor entries(body);
    (void)entries.Skip(layout_.directory_preamble());
    while (!entries.empty()) {
      uint64_t child = 0;
      ByteView hash_in_parent;
      uint64_t name_length = 0;
      ByteView name;
      if (!entries.ReadU64Le(&child) ||
          (layout_.v3 && !entries.ReadBytes(kHashSize, &hash_in_parent)) ||
          !entries.ReadU64Le(&name_length) || !entries.ReadBytes(name_length, &name)) {
        return Error::Corrupt("directory record at offset " + std::to_string(offset) + ": entry " +
                              std::to_string(tree.entry_count()) +
                              " runs past the end of the record");
      }
      auto record = Describe(child);
      if (!record) {
        return std::move(record).error().With("entry '" + Printable(AsChars(name)) + "'");
      }
      if (layout_.v3 && std::memcmp(hash_in_parent.data(), record->own_hash.data(), kHashSize)) {
        tree.NoteIntegrityIssue(AsChars(name),
                                "hash stored in the parent directory differs from the entry's "
                                "own hash");
      }
      const uint64_t listing = record->entry.is_dir() ? child : VolumeTreeBuilder::kNoListing;
      WEBCFS_RETURN_IF_ERROR(tree.AddChild(AsChars(name), record->entry, listing));
    }
    return Ok();
  }

 private:
  static Error Truncated(uint64_t offset) {
    return Error::Corrupt("record at offset " + std::to_string(offset) +
                          " runs past the end of the volume header");
  }

  const Layout& layout_;
  const ByteView header_;
  const uint64_t header_offset_;
  const uint64_t data_offset_;
  const uint64_t data_length_;
};

// Reads `u64 header_len, header, u64 data_len, data` from a payload and builds
// the volume's tree. `budget` is what is left of the container's entry limit.
Result<Volume> ReadVolumeBody(ContainerBuilder& b, const Layout& layout, PayloadReader& in,
                              std::string name, std::string label, const OpenOptions& options,
                              uint64_t& budget) {
  ReadBuffer header_buf;
  auto header_length = in.U64("volume header");
  if (!header_length) return std::move(header_length).error();
  const uint64_t header_offset = in.position();
  auto header = in.Bytes(*header_length, "volume header", header_buf);
  if (!header) return std::move(header).error();
  auto data_length = in.U64("volume data");
  if (!data_length) return std::move(data_length).error();
  auto data_offset = in.Skip(*data_length, "volume data");
  if (!data_offset) return std::move(data_offset).error();

  HeaderDecoder decoder(layout, *header, header_offset, *data_offset, *data_length);
  auto root = decoder.Describe(0);
  if (!root) return std::move(root).error().With(label + ": root directory");
  if (!root->entry.is_dir()) return Error::Corrupt(label + ": root record is not a directory");

  // Each child costs at least an entry in its parent plus a record of its own,
  // so a header of n bytes holds fewer than n / entry_overhead entries. The cap
  // keeps a header whose records overlap from multiplying into more entries.
  const uint64_t density_cap = *header_length / (layout.entry_overhead() + 1) + 1;
  VolumeTreeBuilder tree(std::move(name), label, options.max_depth, std::min(budget, density_cap));
  tree.Reserve(density_cap, *header_length);
  auto volume = tree.Build(
      root->entry, 0, [&](uint64_t ref, VolumeTreeBuilder& t) { return decoder.List(ref, t); });
  if (!volume) return std::move(volume).error();
  if (tree.integrity_issue()) b.NoteIntegrityIssue(*tree.integrity_issue());
  budget -= volume->entries().size();
  return volume;
}

}  // namespace

Result<void> ReadV2OrV3(ContainerBuilder& b, const OpenOptions& options) {
  Layout layout;
  layout.v3 = b.version() == Version::kV3;
  const ByteSource& src = b.source();

  // The index section comes first and never has an inline hash (§5.1).
  ReadBuffer buf;
  auto head = ReadRegion(src, kMagicSize, 9, buf);
  if (!head) return std::move(head).error().With("index section header");
  ByteCursor in(*head);
  uint8_t tag = 0;
  uint64_t index_length = 0;
  (void)in.ReadU8(&tag);
  (void)in.ReadU64Le(&index_length);
  if (tag != kTagIndex) {
    return Error::Corrupt("first section has tag " + std::to_string(tag) +
                          ", expected the index (2)");
  }
  if (index_length > kMaxIndexBytes) {
    return Error::ResourceLimit("index section of " + std::to_string(index_length) +
                                " bytes is larger than the limit");
  }
  auto index_bytes = ReadRegion(src, kMagicSize + 9, index_length, buf);
  if (!index_bytes) return std::move(index_bytes).error().With("index section");
  auto index = DecodeIndex(*index_bytes);
  if (!index) return std::move(index).error();
  b.SetIndexPadding(index->padding);

  // Manifest.
  auto manifest_section = LocateSection(b, layout, index->manifest, kTagManifest);
  if (!manifest_section) return std::move(manifest_section).error();
  ManifestLimits limits;
  if (manifest_section->payload_length > limits.max_bytes) {
    return Error::ResourceLimit("manifest section of " +
                                std::to_string(manifest_section->payload_length) +
                                " bytes is larger than the limit");
  }
  auto manifest_bytes =
      ReadRegion(src, manifest_section->payload_offset, manifest_section->payload_length, buf);
  if (!manifest_bytes) return std::move(manifest_bytes).error().With("manifest section");
  auto manifest = DecodeManifest(*manifest_bytes, limits);
  if (!manifest) return std::move(manifest).error();
  b.SetManifest(std::move(*manifest));

  uint64_t budget = options.max_entries;

  // Atoms: `u64 header_len, header, u64 data_len, data` (§4.4).
  auto atoms_section = LocateSection(b, layout, index->atoms, kTagAtoms);
  if (!atoms_section) return std::move(atoms_section).error();
  PayloadReader atoms_in(src, atoms_section->payload_offset, atoms_section->payload_length,
                         "atoms section");
  auto atoms = ReadVolumeBody(b, layout, atoms_in, "atoms", "atoms volume", options, budget);
  if (!atoms) return std::move(atoms).error();
  b.SetAtoms(std::move(*atoms));

  // Volumes: `u64 name_len, name` then the same body.
  for (const SectionRef& ref : index->volumes) {
    auto section = LocateSection(b, layout, ref, kTagVolume);
    if (!section) return std::move(section).error();
    PayloadReader vin(src, section->payload_offset, section->payload_length, ref.what);
    auto name_length = vin.U64("volume name");
    if (!name_length) return std::move(name_length).error();
    if (*name_length > kMaxVolumeNameBytes) {
      return Error::Corrupt(ref.what + ": volume name of " + std::to_string(*name_length) +
                            " bytes is too long");
    }
    ReadBuffer name_buf;
    auto name = vin.Bytes(*name_length, "volume name", name_buf);
    if (!name) return std::move(name).error();
    if (AsChars(*name) != ref.volume_name) {
      return Error::Corrupt(ref.what + ": section names itself '" + Printable(AsChars(*name)) +
                            "'");
    }
    auto volume = ReadVolumeBody(b, layout, vin, ref.volume_name, ref.what, options, budget);
    if (!volume) return std::move(volume).error();
    b.AddVolume(std::move(*volume));
  }
  return Ok();
}

}  // namespace webcfs::webc
