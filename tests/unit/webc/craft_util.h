// Hand-built container bytes for hostile-input tests: every offset, length and
// name is under the test's control, so each test states exactly what is wrong.
// Also ByteSource wrappers that truncate, flip bytes or fail reads without
// copying the underlying container.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "webc/byte_source.h"

namespace webcfs::webc::testing {

// Little-endian u64 as 8 bytes.
std::string U64(uint64_t v);
std::string Sha256Bytes(std::string_view bytes);

// ---- v2/v3 volume headers (§4.5, §5.2) ----------------------------------

struct DirEntrySpec {
  uint64_t offset;  // of the child's record, relative to the header
  std::string name;
  std::string hash;  // v3: 32 bytes stored in the entry; empty = 32 zero bytes
};

// A directory record: tag 30, u64 length, (v3: timestamps + hash), entries.
std::string DirRecord(bool v3, const std::vector<DirEntrySpec>& entries,
                      const std::string& own_hash = "", uint64_t mtime = 0);
// A file record: tag 31, start, end, sha256, (v3: timestamps).
std::string FileRecord(bool v3, uint64_t start, uint64_t end, const std::string& hash = "",
                       uint64_t mtime = 0);

// A consistent v2/v3 volume from a list of (path, contents) files: header with
// records laid out depth-first like Wasmer's writer, correct hashes. Paths are
// relative ("a/b.txt"); a trailing '/' makes an empty directory.
struct BuiltVolume {
  std::string header;
  std::string data;
};
BuiltVolume BuildVolume(bool v3, const std::vector<std::pair<std::string, std::string>>& files);

// ---- whole containers -----------------------------------------------------

struct VolumeSpec {
  std::string name;
  std::string header;
  std::string data;
};

struct ContainerSpec {
  int version = 3;  // 2 or 3
  std::string manifest_json = R"({"package": {"wapm": {"name": "t/t", "version": "1.0.0"}}})";
  std::optional<std::string> manifest_cbor;  // overrides manifest_json
  VolumeSpec atoms{"", "", ""};              // header empty = an empty root directory
  std::vector<VolumeSpec> volumes;
  bool checksums = true;  // checksum-sha256 in the index
  uint64_t padding = 16;
};

// Index, sections and hashes computed like the real writers.
std::string BuildContainer(const ContainerSpec& spec);

// Payload offset of the named section inside a container built by
// BuildContainer (for tests that patch bytes): "manifest", "atoms" or a volume name.
uint64_t SectionPayloadOffset(const std::string& container, const std::string& section);

// ---- v1 (§3) --------------------------------------------------------------

struct V1EntrySpec {
  std::string name;
  uint8_t type;  // 0 dir, 1 file
  uint64_t start;
  uint64_t end;
};
// A listing: u64 byte length + entries (24 bytes + name each).
std::string V1Listing(const std::vector<V1EntrySpec>& entries);
std::string Leb128(uint64_t v);
// uleb128 header_len + header + data.
std::string V1Volume(const std::string& header, const std::string& data);
// Header (checksum type "----------------") + manifest + atoms + volumes.
std::string BuildV1(const std::string& manifest_json, const std::string& atoms_volume,
                    const std::vector<std::pair<std::string, std::string>>& volumes);

// ---- ByteSource wrappers --------------------------------------------------

// The first `size` bytes of `base`.
std::unique_ptr<ByteSource> PrefixSource(std::shared_ptr<const ByteSource> base, uint64_t size);
// `base` with byte `offset` XOR-ed with `mask`.
std::unique_ptr<ByteSource> FlipSource(std::shared_ptr<const ByteSource> base, uint64_t offset,
                                       uint8_t mask);
// `base`, but every read after the first `good_reads` fails with an Io error.
std::unique_ptr<ByteSource> FailingSource(std::shared_ptr<const ByteSource> base, int good_reads);

}  // namespace webcfs::webc::testing
