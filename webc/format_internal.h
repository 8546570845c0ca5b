// Byte-level constants of the WEBC format shared by the readers and the writer
// (docs/webc-format.md). Internal to webc/.
#pragma once

#include <cstdint>

namespace webcfs::webc::format {

// §1: "\0webc" + three ASCII version digits.
inline constexpr uint64_t kMagicSize = 8;

// §4.1 (v3 uses the same values, §5.1): section tags and volume-header record tags.
inline constexpr uint8_t kTagManifest = 1;
inline constexpr uint8_t kTagIndex = 2;
inline constexpr uint8_t kTagAtoms = 3;
inline constexpr uint8_t kTagVolume = 4;
inline constexpr uint8_t kTagDirectory = 30;
inline constexpr uint8_t kTagFile = 31;

inline constexpr uint64_t kHashSize = 32;        // SHA-256 everywhere
inline constexpr uint64_t kTimestampsSize = 24;  // §5.2: accessed, modified, created (u64 each)

// §5.1: the index payload follows the magic, the index tag and its u64 length.
inline constexpr uint64_t kIndexPayloadOffset = kMagicSize + 1 + 8;
// The index must fit in memory comfortably; real ones are a few hundred bytes.
inline constexpr uint64_t kMaxIndexBytes = 64 << 20;

}  // namespace webcfs::webc::format
