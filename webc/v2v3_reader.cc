// Readers for WEBC v2 and v3 (docs/webc-format.md §4, §5). The two versions
// differ in three places only, captured by Layout: v3 sections carry an inline
// SHA-256 after the tag, v3 directory records carry timestamps and a hash, and
// v3 directory entries and file records carry hashes / timestamps.
#include <algorithm>
#include <cstring>
#include <optional>
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
using format::kIndexPayloadOffset;
using format::kMagicSize;
using format::kMaxIndexBytes;
using format::kTagAtoms;
using format::kTagDirectory;
using format::kTagFile;
using format::kTagIndex;
using format::kTagManifest;
using format::kTagVolume;
using format::kTimestampsSize;

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

// The longest prefix of a record Describe reads: a v3 file record (tag, range,
// hash, timestamps); a directory record's tag, length and preamble are shorter.
constexpr uint64_t kMaxRecordPrefix = 1 + 16 + kHashSize + kTimestampsSize;

// Calls visit(child_offset, hash_in_parent, name) for each entry of the body
// of the directory record at `offset`, in stored order.
template <class Visit>
Result<void> ForEachListed(const Layout& layout, ByteView body, uint64_t offset, Visit&& visit) {
  ByteCursor entries(body);
  (void)entries.Skip(layout.directory_preamble());
  for (uint64_t i = 0; !entries.empty(); ++i) {
    uint64_t child = 0;
    ByteView hash_in_parent;
    uint64_t name_length = 0;
    ByteView name;
    if (!entries.ReadU64Le(&child) ||
        (layout.v3 && !entries.ReadBytes(kHashSize, &hash_in_parent)) ||
        !entries.ReadU64Le(&name_length) || !entries.ReadBytes(name_length, &name)) {
      return Error::Corrupt("directory record at offset " + std::to_string(offset) + ": entry " +
                            std::to_string(i) + " runs past the end of the record");
    }
    WEBCFS_RETURN_IF_ERROR(visit(child, hash_in_parent, AsChars(name)));
  }
  return Ok();
}

// Where a volume's header and data are in the container (absolute offsets),
// and the header's length. Record offsets are relative to the header; file
// ranges relative to the data.
struct VolumeSpan {
  uint64_t header_offset = 0;
  uint64_t header_length = 0;
  uint64_t data_offset = 0;
  uint64_t data_length = 0;
};

// Decodes the records of one volume header (§4.5, §5.2) from `window`, which
// holds header bytes [window_base, window_base + window.size()): the whole
// header when a container is opened eagerly, the part a listing needs when
// lazily.
class HeaderDecoder {
 public:
  HeaderDecoder(const Layout& layout, const VolumeSpan& span, ByteView window,
                uint64_t window_base = 0)
      : layout_(layout), span_(span), window_(window), window_base_(window_base) {}

  // Metadata of the record at `offset` as an Entry (no name yet), plus where
  // the record stores its own hash (v2 directories: none).
  struct Record {
    Entry entry;
    ByteView own_hash;
  };

  Result<Record> Describe(uint64_t offset) const {
    if (offset > span_.header_length) {
      return Error::Corrupt("record offset " + std::to_string(offset) +
                            " is outside the volume header (" +
                            std::to_string(span_.header_length) + " bytes)");
    }
    ByteCursor in(window_);
    if (offset < window_base_ || !in.Seek(offset - window_base_)) {
      return Error::Corrupt("record at offset " + std::to_string(offset) + " was not read");
    }
    uint8_t tag = 0;
    if (!in.ReadU8(&tag)) return Truncated(offset);
    Record r;
    if (tag == kTagDirectory) {
      uint64_t length = 0;
      if (!in.ReadU64Le(&length)) return Truncated(offset);
      if (length > span_.header_length - (offset + 9)) {
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
        if (!in.ReadU64Le(&accessed) || !in.ReadU64Le(&r.entry.mtime) || !in.ReadU64Le(&created)) {
          return Truncated(offset);
        }
        r.entry.hash_offset = span_.header_offset + window_base_ + in.position();
        if (!in.ReadBytes(kHashSize, &r.own_hash)) return Truncated(offset);
      }
      return r;
    }
    if (tag == kTagFile) {
      uint64_t start = 0;
      uint64_t end = 0;
      if (!in.ReadU64Le(&start) || !in.ReadU64Le(&end)) return Truncated(offset);
      const uint64_t hash_at = window_base_ + in.position();
      if (!in.ReadBytes(kHashSize, &r.own_hash)) return Truncated(offset);
      if (layout_.v3) {
        uint64_t accessed = 0;
        uint64_t created = 0;
        if (!in.ReadU64Le(&accessed) || !in.ReadU64Le(&r.entry.mtime) || !in.ReadU64Le(&created)) {
          return Truncated(offset);
        }
      }
      if (start > end || end > span_.data_length) {
        return Error::Corrupt("file record at offset " + std::to_string(offset) + ": range [" +
                              std::to_string(start) + ", " + std::to_string(end) +
                              ") is outside the volume data (" + std::to_string(span_.data_length) +
                              " bytes)");
      }
      r.entry.SetFile(span_.data_offset + start);
      r.entry.size = end - start;
      r.entry.hash_offset = span_.header_offset + hash_at;
      return r;
    }
    return Error::Corrupt("record at offset " + std::to_string(offset) + " has unknown tag " +
                          std::to_string(tag));
  }

  // ListFn for VolumeTreeBuilder: the entries of the directory record at
  // `offset` (the window is the whole header).
  Result<void> List(uint64_t offset, VolumeTreeBuilder& tree) const {
    ByteCursor in(window_);
    uint64_t length = 0;
    ByteView body;
    // Describe() already checked tag, length and preamble for this record.
    if (!in.Seek(offset) || !in.Skip(1) || !in.ReadU64Le(&length) || !in.ReadBytes(length, &body)) {
      return Truncated(offset);
    }
    return ForEachListed(
        layout_, body, offset,
        [&](uint64_t child, ByteView hash_in_parent, std::string_view name) -> Result<void> {
          auto record = Describe(child);
          if (!record) return std::move(record).error().With("entry '" + Printable(name) + "'");
          if (layout_.v3 &&
              std::memcmp(hash_in_parent.data(), record->own_hash.data(), kHashSize)) {
            tree.NoteIntegrityIssue(name,
                                    "hash stored in the parent directory differs from the "
                                    "entry's own hash");
          }
          const uint64_t listing = record->entry.is_dir() ? child : VolumeTreeBuilder::kNoListing;
          return tree.AddChild(name, record->entry, listing);
        });
  }

 private:
  static Error Truncated(uint64_t offset) {
    return Error::Corrupt("record at offset " + std::to_string(offset) +
                          " runs past the end of the volume header");
  }

  const Layout& layout_;
  const VolumeSpan& span_;
  const ByteView window_;
  const uint64_t window_base_;
};

// Lists one directory of a lazily opened volume by reading only its record
// and its children's records, not the whole header. The container was
// accepted by an eager Open before (OpenOptions::lazy_directories), so this
// keeps the checks that guard memory (bounds, lengths) and skips the ones
// that need the whole tree (loops, depth, the entry budget).
class LazyHeaderLister final : public DirectoryLister {
 public:
  LazyHeaderLister(std::shared_ptr<const ByteSource> source, const Layout& layout,
                   const VolumeSpan& span)
      : source_(std::move(source)), layout_(layout), span_(span) {}

  Result<void> List(uint64_t ref, const AddFn& add) const override {
    ReadBuffer record_buf;
    auto body = ReadRecordBody(ref, record_buf);
    if (!body) return std::move(body).error();
    struct Child {
      uint64_t offset;
      std::string_view name;  // into record_buf
    };
    std::vector<Child> children;
    uint64_t low = UINT64_MAX;
    uint64_t high = 0;
    WEBCFS_RETURN_IF_ERROR(ForEachListed(
        layout_, *body, ref, [&](uint64_t child, ByteView, std::string_view name) -> Result<void> {
          children.push_back({child, name});
          low = std::min(low, child);
          high = std::max(high, child);
          return Ok();
        }));
    if (children.empty()) return Ok();
    // Writers put a directory's child records close together: one read of
    // the span that holds them all, unless they are scattered.
    ReadBuffer window_buf;
    const uint64_t window_end = WindowEnd(high);
    const bool one_window = low < window_end && window_end - low <= kMaxWindow;
    std::optional<HeaderDecoder> shared;
    if (one_window) {
      auto window = Read(low, window_end - low, window_buf);
      if (!window) return std::move(window).error();
      shared.emplace(layout_, span_, *window, low);
    }
    for (const Child& c : children) {
      std::optional<HeaderDecoder> own;
      if (!one_window) {
        const uint64_t end = WindowEnd(c.offset);
        auto window = Read(c.offset, end > c.offset ? end - c.offset : 0, window_buf);
        if (!window) return std::move(window).error();
        own.emplace(layout_, span_, *window, c.offset);
      }
      auto record = (one_window ? *shared : *own).Describe(c.offset);
      if (!record) return std::move(record).error().With("entry '" + Printable(c.name) + "'");
      if (record->entry.is_dir()) record->entry.SetUnlisted(c.offset);
      WEBCFS_RETURN_IF_ERROR(add(c.name, record->entry));
    }
    return Ok();
  }

 private:
  static constexpr uint64_t kMaxWindow = uint64_t{1} << 20;

  uint64_t WindowEnd(uint64_t record) const {
    return std::min(span_.header_length, record + kMaxRecordPrefix);
  }

  Result<ByteView> Read(uint64_t offset, uint64_t n, ReadBuffer& buf) const {
    return ReadRegion(*source_, span_.header_offset + offset, n, buf);
  }

  // The body (preamble and entries) of the directory record at `ref`.
  Result<ByteView> ReadRecordBody(uint64_t ref, ReadBuffer& buf) const {
    if (ref > span_.header_length || span_.header_length - ref < 9) {
      return Error::Corrupt("directory record at offset " + std::to_string(ref) +
                            " is outside the volume header");
    }
    auto head = Read(ref, 9, buf);
    if (!head) return std::move(head).error();
    ByteCursor in(*head);
    uint8_t tag = 0;
    uint64_t length = 0;
    (void)in.ReadU8(&tag);
    (void)in.ReadU64Le(&length);
    if (tag != kTagDirectory || length > span_.header_length - ref - 9 ||
        length < layout_.directory_preamble()) {
      return Error::Corrupt("record at offset " + std::to_string(ref) +
                            " is not a well-formed directory record");
    }
    return Read(ref + 9, length, buf);
  }

  std::shared_ptr<const ByteSource> source_;
  const Layout layout_;
  const VolumeSpan span_;
};

// Reads `u64 header_len, header, u64 data_len, data` from a payload and builds
// the volume's tree, or with options.lazy_directories only its root. `budget`
// is what is left of the container's entry limit.
Result<Volume> ReadVolumeBody(ContainerBuilder& b, const Layout& layout, PayloadReader& in,
                              std::string name, std::string label, const OpenOptions& options,
                              uint64_t& budget, bool lazy) {
  VolumeSpan span;
  auto header_length = in.U64("volume header");
  if (!header_length) return std::move(header_length).error();
  span.header_length = *header_length;
  span.header_offset = in.position();
  auto header_at = in.Skip(span.header_length, "volume header");
  if (!header_at) return std::move(header_at).error();
  auto data_length = in.U64("volume data");
  if (!data_length) return std::move(data_length).error();
  span.data_length = *data_length;
  auto data_offset = in.Skip(span.data_length, "volume data");
  if (!data_offset) return std::move(data_offset).error();
  span.data_offset = *data_offset;

  // Each child costs at least an entry in its parent plus a record of its own,
  // so a header of n bytes holds fewer than n / entry_overhead entries. The cap
  // keeps a header whose records overlap from multiplying into more entries.
  const uint64_t density_cap = span.header_length / (layout.entry_overhead() + 1) + 1;
  const uint64_t max_entries = std::min(budget, density_cap);

  ReadBuffer header_buf;
  // Lazily: the root record only (its prefix; the listing is read on use).
  const uint64_t window =
      lazy ? std::min(span.header_length, kMaxRecordPrefix) : span.header_length;
  auto header = ReadRegion(b.source(), span.header_offset, window, header_buf);
  if (!header) return std::move(header).error().With(label + ": volume header");
  HeaderDecoder decoder(layout, span, *header);
  auto root = decoder.Describe(0);
  if (!root) return std::move(root).error().With(label + ": root directory");
  if (!root->entry.is_dir()) return Error::Corrupt(label + ": root record is not a directory");

  if (lazy) {
    root->entry.SetUnlisted(0);
    return Volume(std::move(name), root->entry,
                  std::make_unique<LazyHeaderLister>(b.shared_source(), layout, span), max_entries,
                  span.header_length);
  }
  VolumeTreeBuilder tree(std::move(name), label, options.max_depth, max_entries);
  tree.Reserve(density_cap, span.header_length);
  auto volume = tree.Build(
      root->entry, 0, [&](uint64_t ref, VolumeTreeBuilder& t) { return decoder.List(ref, t); });
  if (!volume) return std::move(volume).error();
  if (tree.integrity_issue()) b.NoteIntegrityIssue(*tree.integrity_issue());
  budget -= volume->entries().size();
  return volume;
}

}  // namespace

Result<ByteView> ReadIndexPayload(const ByteSource& src, ReadBuffer& buf) {
  // The index section comes first and never has an inline hash (§5.1).
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
  auto payload = ReadRegion(src, kIndexPayloadOffset, index_length, buf);
  if (!payload) return std::move(payload).error().With("index section");
  return payload;
}

Result<void> ReadV2OrV3(ContainerBuilder& b, const OpenOptions& options) {
  Layout layout;
  layout.v3 = b.version() == Version::kV3;
  const ByteSource& src = b.source();

  ReadBuffer buf;
  auto index_bytes = ReadIndexPayload(src, buf);
  if (!index_bytes) return std::move(index_bytes).error();
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
  auto atoms =
      ReadVolumeBody(b, layout, atoms_in, "atoms", "atoms volume", options, budget, /*lazy=*/false);
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
    auto volume = ReadVolumeBody(b, layout, vin, ref.volume_name, ref.what, options, budget,
                                 options.lazy_directories && !options.verify);
    if (!volume) return std::move(volume).error();
    b.AddVolume(std::move(*volume));
  }
  return Ok();
}

}  // namespace webcfs::webc
