// Container: a validated, immutable WEBC container of any version (v1, v2, v3).
//
// Open() reads and checks everything that is metadata: header, index, manifest,
// every volume's directory tree (bounds, names, cycles, depth, counts). After
// Open the object is immutable and safe to share between threads; file contents
// are read on demand through the ByteSource.
//
// ID spaces: a Volume stores its tree as a flat array of Entry; index 0 is the
// root directory; a directory's children are the contiguous range
// [first_child, first_child + child_count) in stored order (byte-sorted in every
// writer seen). Entry indices are stable for the life of the Container.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "webc/base/large_array.h"
#include "webc/base/result.h"
#include "webc/base/sha256.h"
#include "webc/byte_source.h"
#include "webc/manifest.h"

namespace webcfs::webc {

enum class Version : uint8_t { kV1 = 1, kV2 = 2, kV3 = 3 };

// Bounds on untrusted structure (docs/architecture.md, "Safety rules").
inline constexpr uint32_t kMaxDepth = 4096;  // directory nesting
inline constexpr uint64_t kMaxEntriesPerContainer = 16'000'000;
inline constexpr size_t kMaxNameLength = 255;  // bytes, like NAME_MAX
// `.webc.zst` inputs are refused past this many decompressed bytes: a zstd
// bomb costs at most this much memory or cache space.
inline constexpr uint64_t kMaxDecompressedSize = uint64_t{16} << 30;

struct OpenOptions {
  bool verify =
      false;  // check every stored checksum at Open (--verify); off: Open stays O(metadata)
  // v2/v3 named volumes: decode only the root at Open and each directory when
  // it is first listed, so Open costs the same for 10 entries or a million.
  // Only for bytes an eager Open has already accepted (resolver/cache.h
  // records that per content hash): a lazy Open checks just what it reads, so
  // a malformed tree would surface as read errors during use, not at Open.
  bool lazy_directories = false;
  uint32_t max_depth = kMaxDepth;
  uint64_t max_entries = kMaxEntriesPerContainer;
  // `.webc.zst` inputs: refuse to decompress past this many bytes.
  uint64_t max_decompressed_size = kMaxDecompressedSize;
};

enum class EntryType : uint8_t { kDirectory = 0, kFile = 1 };

// One node of a volume tree. Compact on purpose (40 bytes): a snapshot of a
// million entries keeps one of these per entry. A file's data offset and a
// directory's child range share one word; the accessors read it by type.
struct Entry {
  uint64_t size = 0;         // file: length in bytes; directory: 0
  uint64_t mtime = 0;        // v3 `modified` as stored (seconds, or ms from wasmer-js); 0 = none
  uint64_t hash_offset = 0;  // absolute offset of the stored SHA-256, 0 = none (v1)
  uint32_t name_offset = 0;  // into Volume's name arena
  uint16_t name_length = 0;
  EntryType type = EntryType::kDirectory;

  bool is_dir() const { return type == EntryType::kDirectory; }
  bool is_file() const { return type == EntryType::kFile; }

  // File: absolute offset of its bytes in the container; directory: 0.
  uint64_t data_offset() const { return is_file() ? place_ : 0; }
  // Directory: its children are Volume::entries()[first_child(), +child_count()),
  // stored right after the directory's earlier siblings' subtrees; file, or
  // directory of a lazy volume not listed yet (Volume::ListChildren): 0, 0.
  uint32_t first_child() const { return listed_dir() ? static_cast<uint32_t>(place_) : 0; }
  uint32_t child_count() const { return listed_dir() ? static_cast<uint32_t>(place_ >> 32) : 0; }
  // False only for a directory of a lazy volume whose children are not listed yet.
  bool listed() const {
    return std::atomic_ref<uint8_t>(const_cast<uint8_t&>(unlisted_))
               .load(std::memory_order_acquire) == 0;
  }

  // Make this a file whose bytes start at `offset`.
  void SetFile(uint64_t offset) {
    type = EntryType::kFile;
    place_ = offset;
  }
  // Make this a directory with the given child range.
  void SetChildren(uint32_t first, uint32_t count) {
    type = EntryType::kDirectory;
    place_ = (static_cast<uint64_t>(count) << 32) | first;
  }
  // Make this a directory of a lazy volume whose children are not listed yet;
  // `listing_ref` says where the format stores its listing (Volume lists it).
  void SetUnlisted(uint64_t listing_ref) {
    type = EntryType::kDirectory;
    unlisted_ = 1;
    place_ = listing_ref;
  }

 private:
  friend class Volume;
  bool listed_dir() const { return is_dir() && listed(); }
  uint8_t unlisted_ = 0;  // lazy volumes: 1 until Volume has listed this directory
  uint64_t place_ = 0;
};
static_assert(sizeof(Entry) == 40);

// How a lazy Volume lists one directory: implemented by a format reader.
class DirectoryLister {
 public:
  // Called once per child in stored order; `name` is valid for the call only.
  using AddFn = std::function<Result<void>(std::string_view name, const Entry& entry)>;
  virtual ~DirectoryLister() = default;
  // The children of the directory whose listing is at `ref` (a directory
  // entry's SetUnlisted value). Directories among them are SetUnlisted.
  virtual Result<void> List(uint64_t ref, const AddFn& add) const = 0;
};

class Volume {
 public:
  // An eagerly decoded volume. Takes the arrays as final: their spare capacity
  // is given back to the kernel.
  Volume(std::string name, LargeArray<Entry> entries, LargeArray<char> names, bool sorted);
  // A lazy volume (OpenOptions::lazy_directories): only the root is known;
  // each directory is listed through `lister` when first asked for. The
  // arrays are reserved once for at most `max_entries` entries and
  // `max_name_bytes` bytes of names, so entries never move.
  Volume(std::string name, const Entry& root, std::unique_ptr<const DirectoryLister> lister,
         uint64_t max_entries, uint64_t max_name_bytes);
  Volume(Volume&&) noexcept;
  Volume& operator=(Volume&&) noexcept;
  ~Volume();

  const std::string& name() const { return name_; }
  // Every entry of an eager volume. Of a lazy one: the entries listed so far,
  // and only while no other thread lists (tests and tools, not serving).
  std::span<const Entry> entries() const { return entries_; }
  const Entry& root() const { return entries_.data()[0]; }
  // Entry `index` (an IndexOf value); safe while other threads list.
  const Entry& EntryAt(uint32_t index) const { return entries_.data()[index]; }
  uint32_t IndexOf(const Entry& e) const { return static_cast<uint32_t>(&e - entries_.data()); }
  std::string_view NameOf(const Entry& e) const {
    return std::string_view(names_.data() + e.name_offset, e.name_length);
  }
  // The children of a directory (empty for a file). A lazy volume lists the
  // directory on first use; that can fail (a read error).
  Result<std::span<const Entry>> ListChildren(const Entry& dir) const;
  // ListChildren for callers that cannot fail: empty when listing fails.
  std::span<const Entry> Children(const Entry& dir) const;
  // Whether every directory's children are stored byte-sorted by name (as
  // every known writer stores them); names are unique either way. A lazy
  // volume sorts each listing, so it is always sorted.
  bool sorted() const { return sorted_; }
  bool lazy() const { return lazy_ != nullptr; }
  // Most entries the volume can have: its size when eager, its reservation when lazy.
  size_t max_entries() const { return lazy_ != nullptr ? entries_.capacity() : entries_.size(); }
  // Child of `dir` called `name`, or nullptr. Binary search when the stored
  // order is byte-sorted, else linear. Allocates nothing once listed.
  const Entry* Find(const Entry& dir, std::string_view name) const;
  // Entry at an absolute or relative volume path ("/a/b", "a/b", "/" = root);
  // empty segments are skipped; "." and ".." are not resolved (not found).
  const Entry* Lookup(std::string_view path) const;

  // Bytes of names, for memory accounting.
  size_t name_bytes() const { return names_.size(); }

 private:
  struct Lazy;
  Result<void> List(Entry& dir) const;  // lazy_->mu held

  std::string name_;
  // Lazy volumes append to these under lazy_->mu; reserved once, so entries
  // and names never move while other threads read them.
  mutable LargeArray<Entry> entries_;
  mutable LargeArray<char> names_;
  bool sorted_;
  std::unique_ptr<Lazy> lazy_;  // nullptr for an eager volume
};

struct V1ChecksumInfo {
  std::string type;           // 16 ASCII bytes, e.g. "sha256----------"
  std::optional<bool> valid;  // nullopt when type is none or not verified
  uint32_t signature_len = 0;
};

class Container {
 public:
  // Parses and validates; with options.verify also checks every stored hash.
  static Result<std::unique_ptr<Container>> Open(std::shared_ptr<const ByteSource> source,
                                                 const OpenOptions& options = {});
  // OpenContainerSource + Open; every error message starts with `path`.
  static Result<std::unique_ptr<Container>> OpenFile(const std::string& path,
                                                     const OpenOptions& options = {});

  ~Container();

  Version version() const { return version_; }
  const Manifest& manifest() const { return manifest_; }
  const Volume& atoms() const { return atoms_; }
  // Named volumes in stored order (v1: file order; v2/v3: index order).
  std::span<const Volume> volumes() const { return volumes_; }
  const Volume* FindVolume(std::string_view name) const;
  // The atom's file entry in atoms(), or nullptr.
  const Entry* FindAtom(std::string_view name) const;

  const ByteSource& source() const { return *source_; }
  std::shared_ptr<const ByteSource> shared_source() const { return source_; }

  // Reads up to n bytes of a file entry starting at `offset` (clamped to the
  // file's end; empty at or past it). View semantics as ByteSource::Read.
  Result<ByteView> ReadFile(const Entry& file, uint64_t offset, size_t n, std::byte* scratch) const;

  // The SHA-256 the container stores for an entry (v2/v3 files, v3 dirs), or nullopt.
  Result<std::optional<Sha256Digest>> StoredHash(const Entry& e) const;

  // SHA-256 of the whole container file (the "webc hash"; package id for unnamed packages).
  Result<Sha256Digest> WholeFileHash() const;

  // Checks every stored checksum: v1 whole-file checksum, v2/v3 section hashes
  // (index and v3 inline), atom signatures, per-file hashes, v3 directory hashes.
  // The error names the section, volume or file that does not match.
  Result<void> Verify() const;

  // v3 only: HeaderDigest() of the source; nullopt for v1 and v2.
  Result<std::optional<Sha256Digest>> HeaderDigest() const;

  // v1 only: recomputes the whole-file checksum (§3.2) and compares it with the
  // stored one. nullopt when the file is not v1 or its checksum type is none.
  Result<std::optional<bool>> CheckV1Checksum() const;

  const V1ChecksumInfo& v1_checksum() const { return v1_checksum_; }        // v1 only
  std::optional<uint64_t> index_padding() const { return index_padding_; }  // v2/v3 only

 private:
  Container() = default;
  friend class ContainerBuilder;  // internal: the version readers fill a Container

  std::shared_ptr<const ByteSource> source_;
  Version version_ = Version::kV3;
  Manifest manifest_;
  Volume atoms_{"", {Entry{}}, {}, true};
  std::vector<Volume> volumes_;
  V1ChecksumInfo v1_checksum_;
  std::optional<uint64_t> index_padding_;
  // Integrity data recorded by the readers for Verify().
  struct SectionHash {
    std::string what;  // "manifest", "atoms", "volume '/data'", "index"
    uint64_t payload_offset;
    uint64_t payload_length;
    Sha256Digest expected;
  };
  std::vector<SectionHash> section_hashes_;
  // First hash disagreement seen while parsing (v3 entry hash vs the child's
  // own hash); Verify() reports it.
  std::optional<std::string> integrity_issue_;
};

// Visits every entry below a volume's root, depth-first in stored order, with
// its absolute volume path ("/a/b"). Stops at the first error the visitor
// returns, or that listing a lazy volume's directory returns. Iterative: deep
// trees do not grow the thread's stack.
using VolumeVisitor = std::function<Result<void>(const Entry& entry, std::string_view path)>;
Result<void> WalkVolume(const Volume& volume, const VolumeVisitor& visit);

// A range of container bytes.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// The bytes a v3 header digest covers (docs/webc-format.md §5.4), in index
// order: the index section's payload, the manifest section, the atoms section,
// and each volume section up to its file data. Reads only the index and each
// volume section's first bytes. Unsupported for v1 and v2.
Result<std::vector<ByteRange>> HeaderRegions(const ByteSource& source);

// The header digest: SHA-256 of HeaderRegions() concatenated. It vouches for
// every per-file hash a v3 container stores, so a trusted digest lets each file
// be checked alone before the rest of the container has arrived.
Result<Sha256Digest> HeaderDigest(const ByteSource& source);

// Version from the first 8 bytes; Unsupported for an unknown version, Corrupt
// for a bad magic.
Result<Version> DetectVersion(const ByteSource& source);

}  // namespace webcfs::webc
