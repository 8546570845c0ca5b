// `index.json`: the listing of a registry folder, so that a static HTTP(S)
// mirror can be read without listing a directory, and a local folder without
// opening every file (docs/resolution.md, "Static mirrors").
//
//   {"webcfs_index": 1,
//    "packages": {"ns/name": [{"version": "1.2.0", "file": "ns--name@1.2.0.webc",
//                              "sha256": "<64 hex>", "header_sha256": "<64 hex>",
//                              "size": N,
//                              "uses": {"alias": "ns/dep@^1", ...}}, ...]}}
//
// `file` is relative to the index's own URL or folder. `uses` lists the
// manifest's `use` entries in manifest order; it is left out when one of them
// is an embedded manifest, and then the container is read to learn them.
// `header_sha256` (v3 only) is the header digest (docs/webc-format.md §5.4).
// Readers ignore keys they do not know.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "resolver/semver.h"
#include "webc/base/result.h"
#include "webc/manifest.h"

namespace webcfs::resolver {

inline constexpr uint64_t kMaxIndexFileBytes = uint64_t{64} << 20;

struct IndexFileEntry {
  std::string full_name;
  Version version;
  std::string file;
  std::string sha256_hex;
  std::string header_sha256_hex;  // v3 only; empty when not listed
  uint64_t size = 0;
  std::optional<std::vector<webc::Dependency>> uses;
};

// Parses an index; errors name `where` (its URL or path) and the key.
Result<std::vector<IndexFileEntry>> ParseIndexFile(const std::string& text,
                                                   const std::string& where);

// The index of the named `.webc` files in `dir` (each opened and hashed),
// as JSON text with a stable order. Unnamed containers and `.webc.zst` files
// are left out, with a line each in `*skipped`.
Result<std::string> BuildIndexFile(const std::string& dir, std::vector<std::string>* skipped);

}  // namespace webcfs::resolver
