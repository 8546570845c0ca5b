// Snapshot: the immutable merged tree of one Resolution (docs/architecture.md,
// "Merged filesystem semantics"), built once and then shared lock-free by every
// FUSE worker thread.
//
// Semantics built here:
//  - a mount table keyed by normalized absolute path; below a path only the
//    deepest mount point that is a prefix of it contributes;
//  - several mappings at one mount point form an overlay: per name the mapping
//    earliest in precedence order wins, listings are the union; a directory
//    merges with same-named directories of later mappings until the first
//    later mapping that has a non-directory of that name (like overlayfs: a
//    file hides everything below it, including directories);
//  - directories between mount points that no volume provides are synthetic;
//  - a mount point shadows a same-named entry of its parent mount (file or
//    directory) and appears in the parent's listing;
//  - v2 mappings expose only the sub-tree at `volume_path`;
//  - the control directory (`/.webc` by default, see control_dir.cc) shadows a
//    same-named root entry.
//
// Memory: one 24-byte Node per visible entry. Names are not copied: a node's
// name is its volume entry's (Snapshot::NameOf); only names that no volume
// entry has (mount-path components, control-dir entries; flag kOwnName) live in
// the snapshot's own arena. File extents, sizes and mtimes are read from the
// container's webc::Entry on demand.
//
// Laziness: Build() builds the mount table and the root only. A directory's
// children are built the first time anyone asks for them (Expand, Children,
// Find), from its layers: a mount costs the same for ten entries or a
// million, and a node is never built for a directory nobody opens. The node
// array is reserved once for the most nodes the mappings can produce, so
// nodes never move and a node index (an inode) stays valid.
//
// Thread-safety: every method is const and safe to call concurrently.
// Expansion appends under a mutex and publishes a directory's children with
// release order (Node::expanded); readers take no lock. Lifetime: the
// snapshot keeps the Resolution (and so every Container) alive.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuse/options.h"
#include "resolver/resolution.h"
#include "webc/base/large_array.h"
#include "webc/base/result.h"
#include "webc/container.h"

namespace webcfs::fuse {

class FileGuard;
class SnapshotBuilder;

struct SnapshotOptions {
  // Name of the control directory at the root; empty = no control directory.
  // Must be a single path component.
  std::string meta_dir{kDefaultMetaDir};
};

enum class NodeType : uint8_t { kDirectory = 0, kFile = 1 };

// One entry of the merged tree. Kept at 24 bytes: a snapshot of a million
// entries holds a million of these. Its name: Snapshot::NameOf.
struct Node {
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint8_t kBlob = 1;  // file bytes are Snapshot::blob(entry), not a volume entry
  static constexpr uint8_t kOwnName = 2;  // the name is the snapshot's, not the volume entry's

  uint32_t parent = 0;       // node index; the root is its own parent
  uint32_t source = kNone;   // index into Snapshot::sources(), kNone = synthetic
  uint32_t entry = 0;        // entry index in the source's volume, or blob index
  uint32_t first_child = 0;  // directories, once expanded: children are a
  uint32_t child_count = 0;  //   contiguous, name-sorted range of node indices
  NodeType type = NodeType::kDirectory;
  uint8_t flags = 0;
  uint8_t expanded = 0;  // directories: 1 once first_child/child_count are set (atomic)

  bool is_dir() const { return type == NodeType::kDirectory; }
  bool is_file() const { return type == NodeType::kFile; }
};
static_assert(sizeof(Node) == 24);

// A volume of a package that some node shows.
struct Source {
  const webc::Container* container = nullptr;
  const webc::Volume* volume = nullptr;
  uint32_t package = 0;    // index into Resolution::packages (owner of the volume)
  int64_t file_mtime = 0;  // the container file's mtime: fallback when the entry has none
};

// Where a file's bytes are: either a range of a ByteSource or an in-memory blob.
struct FileExtent {
  const webc::ByteSource* source = nullptr;  // nullptr for blobs
  uint64_t offset = 0;                       // absolute offset of byte 0 in `source`
  uint64_t size = 0;
  std::string_view blob;  // set when source == nullptr
  // Checks, before a read of `source`'s descriptor, that the file still holds
  // the bytes it was verified with (fuse/file_guard.h); nullptr for blobs and
  // in-memory sources.
  const FileGuard* guard = nullptr;
};

// Memory accounting for tests and benchmarks (bytes).
struct SnapshotMemory {
  size_t nodes = 0;           // node_count * sizeof(Node) (the unused reservation is not resident)
  size_t own_names = 0;       // names stored in the snapshot itself
  size_t blobs = 0;           // control-directory file contents
  size_t other = 0;           // sources table and fixed overhead
  size_t borrowed_names = 0;  // bytes of the container name arenas the nodes point into (not owned)
};

class Snapshot {
 public:
  // Builds the merged tree. Errors name the package and mapping that cannot be
  // served (unknown volume, volume_path missing or not a directory, bad mount
  // path) or a tree too large for the inode space.
  static Result<std::shared_ptr<const Snapshot>> Build(
      std::shared_ptr<const resolver::Resolution> resolution, const SnapshotOptions& options);

  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  ~Snapshot();

  const resolver::Resolution& resolution() const { return *resolution_; }
  std::span<const Source> sources() const { return sources_; }
  // Nodes built so far; grows as directories are expanded.
  size_t node_count() const { return node_count_.load(std::memory_order_acquire); }
  // The most nodes this snapshot can ever have (its reservation).
  size_t max_nodes() const { return nodes_.capacity(); }
  const Node& root() const { return nodes_.data()[0]; }
  uint32_t IndexOf(const Node& n) const { return static_cast<uint32_t>(&n - nodes_.data()); }
  // Node at `index`, or nullptr when out of range (indices come from the kernel).
  const Node* NodeAt(uint64_t index) const {
    return index < node_count() ? &nodes_.data()[index] : nullptr;
  }
  const Node& ParentOf(const Node& n) const { return nodes_.data()[n.parent]; }

  // Builds the children of `dir` unless that was done before. Fails only
  // when a lazily opened volume cannot be read (webc::Volume::ListChildren)
  // or the reservation is exhausted (a bug).
  Result<void> Expand(const Node& dir) const;
  // The children of a directory (Expand first; empty if that fails).
  std::span<const Node> Children(const Node& dir) const;
  // The node's name ("" for the root): its volume entry's name, or for
  // kOwnName nodes the snapshot's copy (a binary search over those few).
  std::string_view NameOf(const Node& n) const;
  // Child of `dir` named `name`, or nullptr. Binary search; allocates nothing
  // once `dir` is expanded.
  const Node* Find(const Node& dir, std::string_view name) const;
  // Node at an absolute path ("/", "/a/b"); empty components are skipped; "."
  // and ".." are not interpreted. For tests and tools, not the FUSE hot path.
  const Node* Lookup(std::string_view path) const;
  // The node's absolute path ("/a/b"), for messages.
  std::string PathOf(const Node& n) const;

  // Number of child directories (a directory's link count is 2 + this).
  uint32_t SubdirCount(const Node& dir) const;
  uint64_t FileSize(const Node& file) const;
  // Seconds since the epoch: v3 `modified` (values that can only be
  // milliseconds are divided by 1000), else the container file's mtime, else
  // the snapshot's default (the root package's container file mtime).
  int64_t MtimeSeconds(const Node& n) const;
  FileExtent Extent(const Node& file) const;

  // For extended attributes; nullptr / empty for synthetic nodes.
  const resolver::ResolvedPackage* PackageOf(const Node& n) const;
  std::string_view VolumeNameOf(const Node& n) const;
  // The SHA-256 the container stores for a file node, if any.
  Result<std::optional<webc::Sha256Digest>> StoredHash(const Node& n) const;

  // Bytes of the containers the snapshot serves from (statfs's size).
  uint64_t container_bytes() const { return container_bytes_; }
  std::string_view blob(uint32_t i) const { return blobs_[i]; }
  SnapshotMemory Memory() const;

 private:
  Snapshot();
  friend class SnapshotBuilder;

  std::shared_ptr<const resolver::Resolution> resolution_;
  // Reserved once (max_nodes); appended by expansion under expand_mu_.
  webc::LargeArray<Node> nodes_;
  std::atomic<size_t> node_count_{0};
  std::vector<Source> sources_;  // fixed after Build()
  // (node index, name) of every kOwnName node, in node order. Reserved once
  // for every name the mount table and control directory can add, so
  // appending never moves it; the names live in the builder.
  std::vector<std::pair<uint32_t, std::string_view>> own_names_;
  std::atomic<size_t> own_name_count_{0};
  std::vector<std::string> blobs_;  // fixed after Build()
  // One per package whose container reads a file descriptor, else nullptr;
  // indexed like Resolution::packages.
  std::vector<std::unique_ptr<const FileGuard>> guards_;
  int64_t default_mtime_ = 0;
  uint64_t container_bytes_ = 0;
  // What expansion needs (mount table, control directory, pending layers).
  mutable std::mutex expand_mu_;
  std::unique_ptr<SnapshotBuilder> builder_;  // guarded by expand_mu_ after Build()
};

// Escapes a package id into one path component for the control directory:
// "ns/name@1.2.3" -> "ns--name@1.2.3" (the registry's file-name convention).
std::string EscapePackageId(std::string_view id);

}  // namespace webcfs::fuse
