// Internal to fuse/: the pieces of snapshot building that control_dir.cc shares
// with snapshot.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fuse/snapshot.h"

namespace webcfs::fuse {

// A directory or file that exists only in the snapshot (the control
// directory). Files show either a volume entry (an atom) or a blob.
struct VirtualEntry {
  std::string name;
  NodeType type = NodeType::kDirectory;
  std::vector<VirtualEntry> children;  // directories; any order, sorted when built
  uint32_t source = Node::kNone;       // files: volume entry ...
  uint32_t entry = 0;
  uint32_t blob = Node::kNone;  // ... or blob index
};

// Registers sources and blobs while a snapshot is being built.
class SnapshotBuilderContext {
 public:
  virtual ~SnapshotBuilderContext() = default;
  // Index of the Source for `volume` of package `package` (deduplicated).
  virtual uint32_t SourceFor(uint32_t package, const webc::Volume& volume) = 0;
  virtual uint32_t AddBlob(std::string bytes) = 0;
};

// Builds the control directory tree named `name` (docs/architecture.md,
// "Control directory": resolution.json, commands/<name>.wasm,
// atoms/<package>/<atom>.wasm, packages/<package>/manifest.json).
// Entries whose names cannot be a path component (hostile manifests) are left out.
VirtualEntry BuildControlDir(const resolver::Resolution& resolution, const std::string& name,
                             SnapshotBuilderContext& ctx);

// True when `name` can be one path component: not empty, not "." or "..", no
// '/' or NUL, at most 255 bytes.
bool IsValidComponent(std::string_view name);

}  // namespace webcfs::fuse
