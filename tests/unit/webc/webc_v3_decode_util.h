// A minimal, independent WEBC v3 decoder for tests of the writer: it checks
// the output against the format description (docs/webc-format.md §4–§5) without
// using webc/'s own reader. Every structural rule it knows is asserted with
// GoogleTest, so call it inside ASSERT_NO_FATAL_FAILURE.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/webc/webc_test_util.h"  // FixturePath, ReadHostFile, WriteHostFile

namespace webcfs::webc::testing {

using OrderedJson = nlohmann::ordered_json;

std::string Sha(std::string_view bytes);  // hex SHA-256
uint64_t U64(std::string_view s, size_t at);

struct DecodedEntry {
  bool is_dir = false;
  std::string contents;
  uint64_t mtime = 0;
  std::string stored_hash;  // hex
};

struct DecodedVolume {
  std::map<std::string, DecodedEntry> entries;  // absolute path → entry ("/" = root)
  std::vector<std::string> order;               // paths in header record order
};

struct Decoded {
  OrderedJson index;
  uint64_t index_padding = 0;
  OrderedJson manifest;
  std::string manifest_bytes;
  DecodedVolume atoms;
  std::map<std::string, DecodedVolume> volumes;
  std::vector<std::string> volume_order;
};

// Decodes a whole v3 file and checks magic, index padding, contiguous spans,
// inline and index checksums, per-file, per-entry and per-directory hashes,
// byte order of names and zero accessed/created timestamps.
void Decode(const std::string& file, Decoded& d);

}  // namespace webcfs::webc::testing
