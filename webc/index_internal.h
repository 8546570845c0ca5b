// The v2/v3 index section (docs/webc-format.md §4.2): a CBOR map of absolute
// section spans and checksums, followed by zero padding.
//
// Internal to webc/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "webc/base/result.h"
#include "webc/base/sha256.h"
#include "webc/byte_source.h"

namespace webcfs::webc {

// Where one section is, as the index says.
struct SectionRef {
  std::string what;                      // "manifest", "atoms", "volume '/data'" (for messages)
  std::string volume_name;               // volumes only
  uint64_t start = 0;                    // absolute offset of the section's tag byte
  uint64_t length = 0;                   // whole section: tag, (v3 hash), length, payload
  std::optional<Sha256Digest> checksum;  // checksum-sha256 of the payload; nullopt = none
};

struct Index {
  SectionRef manifest;
  SectionRef atoms;
  std::vector<SectionRef> volumes;  // index order
  uint64_t padding = 0;             // bytes after the CBOR item
};

// Decodes the index payload (CBOR item + padding).
Result<Index> DecodeIndex(ByteView payload);

}  // namespace webcfs::webc
