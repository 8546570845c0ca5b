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

}  // namespace webcfs::webc::format
