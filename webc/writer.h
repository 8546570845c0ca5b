// Writer: builds a WEBC v3 container (docs/webc-format.md §4–§5) from a
// manifest and in-memory or on-disk trees.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::webc {

// A file or directory to write. Directories list children by name; the writer
// sorts names by byte order. File contents come either from memory or from a
// host file (streamed, so huge files are not held in memory).
struct WriteNode {
  bool is_dir = false;
  std::map<std::string, WriteNode> children;  // directories
  std::string contents;                       // files: bytes in memory ...
  std::optional<std::string> host_path;       // ... or bytes of this host file
  uint64_t mtime = 0;                         // seconds since epoch, stored as `modified`
};

struct WriteVolume {
  std::string name;  // e.g. "/data" or "metadata"
  WriteNode root;    // must be a directory
};

struct WriteInput {
  std::string manifest_json;               // the manifest as JSON; encoded to CBOR
  std::map<std::string, WriteNode> atoms;  // atom name → file node
  std::vector<WriteVolume> volumes;        // written sorted by name, as Wasmer does
};

// Writes a v3 container to `out_path` atomically (temp file + rename).
Result<void> WriteV3(const WriteInput& input, const std::string& out_path);

// Builds a WriteNode tree from a host directory (regular files and directories;
// symlinks and other types are an InvalidArgument error naming the path).
Result<WriteNode> TreeFromHostDirectory(const std::string& dir);

// A volume entry name must be one path component: not empty, not "." or "..",
// no '/' or NUL, at most kMaxNameLength bytes, valid UTF-8 (docs/architecture.md,
// "Safety rules"). The writer refuses what the reader would reject.
Result<void> ValidateEntryName(std::string_view name);

}  // namespace webcfs::webc
