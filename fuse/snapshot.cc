#include "fuse/snapshot.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

#include "fuse/file_guard.h"
#include "fuse/inode.h"
#include "fuse/snapshot_internal.h"

namespace webcfs::fuse {

namespace {

// v3 `modified` is seconds by the format, but wasmer-js writes milliseconds.
// 1e11 seconds is the year 5138 while 1e11 ms is 1973: anything larger can
// only be milliseconds.
constexpr uint64_t kMillisecondThreshold = 100'000'000'000;

int64_t NormalizeMtime(uint64_t stored) {
  if (stored > kMillisecondThreshold) stored /= 1000;
  return stored > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(stored);
}

// A directory of a volume that contributes to a merged directory.
struct Layer {
  uint32_t source;
  uint32_t entry;
};

// The mount table as a trie of path components. A node is a mount point when
// at least one mapping targets it; its layers are those mappings' directories
// in precedence order.
struct MountNode {
  std::map<std::string, MountNode, std::less<>> children;  // byte order, like the nodes
  std::vector<Layer> layers;
  bool is_mount = false;
};

// What a directory node that is not expanded yet needs to be expanded, for
// every directory but the plain ones: a plain directory shows one volume
// directory, its own (source, entry), with no mount point below it.
struct Pending {
  uint32_t layer_begin = 0;  // in the builder's layer pool
  uint32_t layer_count = 0;
  const MountNode* mounts = nullptr;   // trie node of this path; nullptr when no mount lies below
  const VirtualEntry* virt = nullptr;  // control-directory directory; nullptr otherwise
};

// One child of the directory being expanded.
struct ChildSpec {
  std::string_view name;
  bool own_name = false;  // name must be copied into the snapshot's arena
  NodeType type = NodeType::kDirectory;
  uint32_t source = Node::kNone;
  uint32_t entry = 0;
  uint8_t flags = 0;
  uint32_t layer_begin = 0;
  uint32_t layer_count = 0;
  const MountNode* mounts = nullptr;
  const VirtualEntry* virt = nullptr;
};

// One name offered by one layer.
struct Candidate {
  std::string_view name;
  uint32_t rank;  // layer position: lower wins
  uint32_t source;
  uint32_t entry;
  bool is_dir;
};

// Sorts a virtual tree by name and drops later duplicates (first wins).
void SortVirtual(VirtualEntry& dir) {
  std::stable_sort(dir.children.begin(), dir.children.end(),
                   [](const VirtualEntry& a, const VirtualEntry& b) { return a.name < b.name; });
  auto last =
      std::unique(dir.children.begin(), dir.children.end(),
                  [](const VirtualEntry& a, const VirtualEntry& b) { return a.name == b.name; });
  dir.children.erase(last, dir.children.end());
  for (VirtualEntry& c : dir.children) {
    if (c.type == NodeType::kDirectory) SortVirtual(c);
  }
}

size_t CountVirtual(const VirtualEntry& dir) {
  size_t n = dir.children.size();
  for (const VirtualEntry& c : dir.children) n += CountVirtual(c);
  return n;
}

size_t CountMountTrie(const MountNode& node) {
  size_t n = node.children.size();
  for (const auto& [name, child] : node.children) n += CountMountTrie(child);
  return n;
}

// The package file's mtime: the path the package came from (a registry file),
// else the descriptor being read (which may be a copy in the cache).
int64_t FileMtime(const webc::ByteSource& source, const std::string& path, int64_t fallback) {
  struct stat st {};
  if (!path.empty() && stat(path.c_str(), &st) == 0) return st.st_mtime;
  if (source.fd() >= 0 && fstat(source.fd(), &st) == 0) return st.st_mtime;
  return fallback;
}

// The first path component of an absolute mount path ("" for "/").
std::string_view TopComponent(std::string_view mount_path) {
  while (!mount_path.empty() && mount_path.front() == '/') mount_path.remove_prefix(1);
  return mount_path.substr(0, mount_path.find('/'));
}

// Which mapping shows `name` at the root of the merged tree, described for an
// error message; nullopt when none does. Mappings were checked by
// BuildMountTable, so their volumes and directories exist.
Result<std::optional<std::string>> RootEntryOwner(const resolver::Resolution& r,
                                                  std::string_view name) {
  for (const resolver::Mapping& m : r.mappings) {
    const std::string& id = r.packages[m.package].id;
    const std::string mapping = id + ", volume '" + m.volume + "' at '" + m.mount_path + "'";
    if (TopComponent(m.mount_path) == name) return std::optional<std::string>(mapping);
    if (!TopComponent(m.mount_path).empty()) continue;
    const webc::Volume& volume = *r.packages[m.volume_package].container->FindVolume(m.volume);
    const webc::Entry& dir = *volume.Lookup(m.volume_path);
    auto listed = volume.ListChildren(dir);
    if (!listed) return std::move(listed).error();
    if (volume.Find(dir, name) != nullptr) return std::optional<std::string>(mapping);
  }
  return std::optional<std::string>();
}

// The control directory may not hide an entry of the packages: a top-level
// file or directory that silently vanished would look like a broken package.
Result<void> CheckControlDirName(const resolver::Resolution& r, const std::string& name) {
  if (!IsValidComponent(name)) {
    return Error::InvalidArgument("control directory name '" + name +
                                  "' is not a single path component");
  }
  auto owner = RootEntryOwner(r, name);
  if (!owner) return std::move(owner).error();
  if (!*owner) return Ok();
  return Error::Conflict("control directory name '" + name +
                         "' is also a top-level entry of the mounted tree (" + **owner +
                         "), which it would hide: choose another name (--meta-dir) or none "
                         "(--no-meta-dir)");
}

}  // namespace

// Builds a snapshot's mount table and root, then lives on inside it to
// expand directories on demand (under Snapshot::expand_mu_).
class SnapshotBuilder final : public SnapshotBuilderContext {
 public:
  explicit SnapshotBuilder(Snapshot& s) : s_(s) {}

  Result<void> Build(const SnapshotOptions& options);
  // Builds the children of directory node `dir`.
  Result<void> Expand(uint32_t dir);

  uint32_t SourceFor(uint32_t package, const webc::Volume& volume) override {
    auto key = std::make_pair(package, &volume);
    auto it = source_index_.find(key);
    if (it != source_index_.end()) return it->second;
    const resolver::ResolvedPackage& pkg = s_.resolution_->packages[package];
    Source src;
    src.container = pkg.container.get();
    src.volume = &volume;
    src.package = package;
    src.file_mtime = FileMtime(pkg.container->source(), pkg.source, s_.default_mtime_);
    const auto index = static_cast<uint32_t>(s_.sources_.size());
    s_.sources_.push_back(src);
    source_index_.emplace(key, index);
    return index;
  }

  uint32_t AddBlob(std::string bytes) override {
    s_.blobs_.push_back(std::move(bytes));
    return static_cast<uint32_t>(s_.blobs_.size() - 1);
  }

 private:
  Result<void> BuildMountTable();
  size_t MaxNodes() const;
  // `layers` may point into layer_pool_: read before anything is pushed.
  Result<void> ExpandWith(uint32_t node, std::span<const Layer> layers, const MountNode* mounts,
                          const VirtualEntry* virt);
  Result<void> ExpandOneVolume(uint32_t node, Layer layer, const MountNode* mounts);
  bool OverrideShadowsAChild(const webc::Volume& volume,
                             std::span<const webc::Entry> children) const;
  Result<void> AppendVolumeChildren(uint32_t node, uint32_t source, const webc::Volume& volume,
                                    std::span<const webc::Entry> children);
  Result<void> CollectLayerChildren(std::span<const Layer> layers);
  void CollectOverrides(uint32_t node, const MountNode* mounts);
  Result<void> MergeAndAppend(uint32_t node);
  Result<void> AppendChildren(uint32_t parent);
  void AppendNode(uint32_t parent, const ChildSpec& spec);
  Result<void> CheckRoomFor(size_t children) const;
  void Publish(uint32_t dir, uint32_t first, size_t count);

  // Nodes are appended in index order, so own_names_ stays sorted; its
  // reservation covers every name the trie and the control directory have.
  void SetOwnName(uint32_t node, std::string_view name) {
    s_.own_names_.emplace_back(node, name);
    s_.own_name_count_.store(s_.own_names_.size(), std::memory_order_release);
  }
  uint32_t PushLayers(std::span<const Layer> layers) {
    const auto begin = static_cast<uint32_t>(layer_pool_.size());
    layer_pool_.insert(layer_pool_.end(), layers.begin(), layers.end());
    return begin;
  }

  Snapshot& s_;
  MountNode mounts_;
  VirtualEntry control_;
  bool has_control_ = false;
  size_t max_mapped_entries_ = 0;  // sum over mappings of their volume's max_entries() - 1
  std::map<std::pair<uint32_t, const webc::Volume*>, uint32_t> source_index_;
  std::vector<Layer> layer_pool_;
  // Directory nodes not expanded yet that are not plain (see Pending).
  std::unordered_map<uint32_t, Pending> pending_;
  // Scratch reused across Expand calls.
  std::vector<Layer> current_layers_;
  std::vector<Candidate> candidates_;
  std::vector<Layer> group_layers_;
  std::vector<ChildSpec> base_;
  std::vector<ChildSpec> overrides_;
  std::vector<ChildSpec> merged_;
};

Result<void> SnapshotBuilder::BuildMountTable() {
  const resolver::Resolution& r = *s_.resolution_;
  for (size_t i = 0; i < r.mappings.size(); ++i) {
    const resolver::Mapping& m = r.mappings[i];
    auto where = [&] {
      std::string owner = m.package < r.packages.size() ? r.packages[m.package].id
                                                        : "package #" + std::to_string(m.package);
      return owner + ": mapping " + std::to_string(i) + " (volume '" + m.volume + "' at '" +
             m.mount_path + "')";
    };
    if (m.package >= r.packages.size() || m.volume_package >= r.packages.size()) {
      return Error::InvalidArgument(where() + ": package index out of range");
    }
    const resolver::ResolvedPackage& pkg = r.packages[m.volume_package];
    if (pkg.container == nullptr) return Error::InvalidArgument(where() + ": package not loaded");
    const webc::Volume* volume = pkg.container->FindVolume(m.volume);
    if (volume == nullptr) {
      return Error::NotFound(where() + ": " + pkg.id + " has no volume '" + m.volume + "'");
    }
    const webc::Entry* dir = volume->Lookup(m.volume_path);
    if (dir == nullptr || !dir->is_dir()) {
      return Error::NotFound(where() + ": '" + m.volume_path + "' is not a directory in volume '" +
                             m.volume + "' of " + pkg.id);
    }
    if (m.mount_path.empty() || m.mount_path[0] != '/') {
      return Error::InvalidArgument(where() + ": mount path is not absolute");
    }
    MountNode* node = &mounts_;
    std::string_view rest = m.mount_path;
    while (!rest.empty()) {
      const size_t slash = rest.find('/');
      std::string_view part = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (part.empty()) continue;
      if (!IsValidComponent(part)) {
        return Error::InvalidArgument(where() + ": invalid mount path component '" +
                                      std::string(part) + "'");
      }
      auto it = node->children.find(part);
      if (it == node->children.end())
        it = node->children.emplace(std::string(part), MountNode{}).first;
      node = &it->second;
    }
    node->is_mount = true;
    max_mapped_entries_ += volume->max_entries() - 1;  // its root is the mount point's node
    node->layers.push_back(
        {SourceFor(static_cast<uint32_t>(m.volume_package), *volume), volume->IndexOf(*dir)});
  }
  return Ok();
}

// Every node shows a different (mapping, entry) pair, a mount-table path or a
// control-directory entry, so this bounds the node count however the
// directories are expanded.
size_t SnapshotBuilder::MaxNodes() const {
  const size_t virtual_nodes = has_control_ ? 1 + CountVirtual(control_) : 0;
  return 1 + virtual_nodes + CountMountTrie(mounts_) + max_mapped_entries_;
}

Result<void> SnapshotBuilder::Build(const SnapshotOptions& options) {
  const resolver::Resolution& r = *s_.resolution_;
  s_.default_mtime_ = static_cast<int64_t>(time(nullptr));
  if (!r.packages.empty() && r.packages[0].container != nullptr) {
    s_.default_mtime_ =
        FileMtime(r.packages[0].container->source(), r.packages[0].source, s_.default_mtime_);
  }
  WEBCFS_RETURN_IF_ERROR(BuildMountTable());

  if (!options.meta_dir.empty()) {
    WEBCFS_RETURN_IF_ERROR(CheckControlDirName(r, options.meta_dir));
    control_ = BuildControlDir(r, options.meta_dir, *this);
    SortVirtual(control_);
    has_control_ = true;
  }
  for (const resolver::ResolvedPackage& p : r.packages) {
    if (p.container != nullptr) s_.container_bytes_ += p.container->source().size();
  }

  // Reserved once, never grown: expansion runs while other threads read
  // nodes, so they must never move. Pages are touched as nodes are built.
  s_.nodes_.reserve(std::min<size_t>(MaxNodes(), kMaxNodes));
  webc::UseSmallPages(s_.nodes_);
  s_.own_names_.reserve((has_control_ ? 1 + CountVirtual(control_) : 0) + CountMountTrie(mounts_));

  Node root;
  root.parent = 0;
  if (mounts_.is_mount) {
    root.source = mounts_.layers[0].source;
    root.entry = mounts_.layers[0].entry;
  }
  s_.nodes_.push_back(root);
  s_.node_count_.store(1, std::memory_order_release);
  pending_[0] = {PushLayers(mounts_.layers), static_cast<uint32_t>(mounts_.layers.size()), &mounts_,
                 nullptr};
  // The root is listed at once: every mount's first request is about it, and
  // an unreadable root should fail the mount, not the first `ls`.
  return Expand(0);
}

Result<void> SnapshotBuilder::Expand(uint32_t dir) {
  const Node& node = s_.nodes_[dir];
  if (node.expanded) return Ok();
  auto it = pending_.find(dir);
  if (it == pending_.end()) {
    const Layer own{node.source, node.entry};
    return ExpandWith(dir, {&own, 1}, nullptr, nullptr);
  }
  const Pending p = it->second;
  WEBCFS_RETURN_IF_ERROR(
      ExpandWith(dir, std::span<const Layer>(layer_pool_).subspan(p.layer_begin, p.layer_count),
                 p.mounts, p.virt));
  pending_.erase(dir);
  return Ok();
}

// Every name of every layer directory, sorted by (name, layer), grouped by
// name into `base_`: the first layer that has a name wins; a winning directory
// merges with the same-named directories of the following layers up to the
// first layer that has a non-directory there.
Result<void> SnapshotBuilder::CollectLayerChildren(std::span<const Layer> layers) {
  base_.clear();
  candidates_.clear();
  current_layers_.assign(layers.begin(), layers.end());
  for (uint32_t rank = 0; rank < current_layers_.size(); ++rank) {
    const Layer& layer = current_layers_[rank];
    const webc::Volume& volume = *s_.sources_[layer.source].volume;
    auto children = volume.ListChildren(volume.EntryAt(layer.entry));
    if (!children) return std::move(children).error();
    for (const webc::Entry& child : *children) {
      candidates_.push_back(
          {volume.NameOf(child), rank, layer.source, volume.IndexOf(child), child.is_dir()});
    }
  }
  auto less = [](const Candidate& a, const Candidate& b) {
    return a.name != b.name ? a.name < b.name : a.rank < b.rank;
  };
  if (!std::is_sorted(candidates_.begin(), candidates_.end(), less)) {
    std::stable_sort(candidates_.begin(), candidates_.end(), less);
  }
  for (size_t i = 0; i < candidates_.size();) {
    size_t j = i + 1;
    while (j < candidates_.size() && candidates_[j].name == candidates_[i].name) ++j;
    const Candidate& win = candidates_[i];
    ChildSpec spec;
    spec.name = win.name;
    spec.source = win.source;
    spec.entry = win.entry;
    if (!win.is_dir) {
      spec.type = NodeType::kFile;
    } else {
      group_layers_.clear();
      for (size_t k = i; k < j && candidates_[k].is_dir; ++k) {
        group_layers_.push_back({candidates_[k].source, candidates_[k].entry});
      }
      spec.layer_begin = PushLayers(group_layers_);
      spec.layer_count = static_cast<uint32_t>(group_layers_.size());
    }
    base_.push_back(spec);
    i = j;
  }
  return Ok();
}

// Children that do not come from this directory's layers: mount points (and
// the paths leading to them) below this directory, and the control directory
// at the root. Sorted by name, like `base_`.
void SnapshotBuilder::CollectOverrides(uint32_t node, const MountNode* mounts) {
  overrides_.clear();
  if (mounts != nullptr) {
    for (const auto& [name, child] : mounts->children) {
      ChildSpec spec;
      spec.name = name;
      spec.own_name = true;
      spec.mounts = &child;
      if (child.is_mount) {
        spec.source = child.layers[0].source;
        spec.entry = child.layers[0].entry;
        spec.layer_begin = PushLayers(child.layers);
        spec.layer_count = static_cast<uint32_t>(child.layers.size());
      }
      overrides_.push_back(spec);
    }
  }
  if (node == 0 && has_control_) {
    ChildSpec spec;
    spec.name = control_.name;
    spec.own_name = true;
    spec.virt = &control_;
    auto at = std::lower_bound(overrides_.begin(), overrides_.end(), spec.name,
                               [](const ChildSpec& c, std::string_view n) { return c.name < n; });
    if (at != overrides_.end() && at->name == spec.name) {
      *at = spec;  // the control directory shadows a mount point of the same name
    } else {
      overrides_.insert(at, spec);
    }
  }
}

Result<void> SnapshotBuilder::ExpandWith(uint32_t node, std::span<const Layer> layers,
                                         const MountNode* mounts, const VirtualEntry* virt) {
  merged_.clear();
  if (virt != nullptr) {
    for (const VirtualEntry& v : virt->children) {
      ChildSpec spec;
      spec.name = v.name;
      spec.own_name = true;
      spec.type = v.type;
      if (v.type == NodeType::kDirectory) {
        spec.virt = &v;
      } else if (v.blob != Node::kNone) {
        spec.flags = Node::kBlob;
        spec.entry = v.blob;
      } else {
        spec.source = v.source;
        spec.entry = v.entry;
      }
      merged_.push_back(spec);
    }
    return AppendChildren(node);
  }

  if (layers.size() == 1 && s_.sources_[layers[0].source].volume->sorted()) {
    return ExpandOneVolume(node, layers[0], mounts);
  }
  WEBCFS_RETURN_IF_ERROR(CollectLayerChildren(layers));
  CollectOverrides(node, mounts);
  return MergeAndAppend(node);
}

// One sorted volume directory, plus the names the mount table or the control
// directory add (usually none, or a few). Most directories of most packages
// are like this: their children are the volume directory's, already in node
// order, so building them directly skips the merge's per-child name
// comparisons and copies (a third of building a 100k-entry snapshot). A
// mount path that leads through one of the volume's own names needs the merge.
Result<void> SnapshotBuilder::ExpandOneVolume(uint32_t node, Layer layer, const MountNode* mounts) {
  const webc::Volume& volume = *s_.sources_[layer.source].volume;
  auto listed = volume.ListChildren(volume.EntryAt(layer.entry));
  if (!listed) return std::move(listed).error();
  CollectOverrides(node, mounts);
  if (OverrideShadowsAChild(volume, *listed)) {
    WEBCFS_RETURN_IF_ERROR(CollectLayerChildren({&layer, 1}));
    return MergeAndAppend(node);
  }
  return AppendVolumeChildren(node, layer.source, volume, *listed);
}

bool SnapshotBuilder::OverrideShadowsAChild(const webc::Volume& volume,
                                            std::span<const webc::Entry> children) const {
  for (const ChildSpec& spec : overrides_) {
    auto at = std::lower_bound(
        children.begin(), children.end(), spec.name,
        [&](const webc::Entry& e, std::string_view name) { return volume.NameOf(e) < name; });
    if (at != children.end() && volume.NameOf(*at) == spec.name) return true;
  }
  return false;
}

// Merges base_ (the layers' names) with overrides_ into merged_ and appends
// them.
Result<void> SnapshotBuilder::MergeAndAppend(uint32_t node) {
  // Merge the two sorted lists; on a name clash the override wins. A path that
  // only leads to a deeper mount point keeps the layers' directory contents
  // when the layers have a directory there (the deepest mount covering it is
  // still this one) and is synthetic otherwise (nothing there, or a file that
  // the mount point shadows).
  size_t b = 0;
  size_t o = 0;
  while (b < base_.size() || o < overrides_.size()) {
    if (o == overrides_.size() || (b < base_.size() && base_[b].name < overrides_[o].name)) {
      merged_.push_back(base_[b++]);
      continue;
    }
    ChildSpec spec = overrides_[o++];
    if (b < base_.size() && base_[b].name == spec.name) {
      const ChildSpec& shadowed = base_[b++];
      const bool passthrough = spec.virt == nullptr && !spec.mounts->is_mount;
      if (passthrough && shadowed.type == NodeType::kDirectory) {
        spec.source = shadowed.source;
        spec.entry = shadowed.entry;
        spec.layer_begin = shadowed.layer_begin;
        spec.layer_count = shadowed.layer_count;
        spec.name = shadowed.name;  // same bytes, but from the volume: no copy needed
        spec.own_name = false;
      }
    }
    merged_.push_back(spec);
  }
  return AppendChildren(node);
}

// The volume's children as plain nodes, with overrides_ (which shadow none
// of them) in their places by name.
Result<void> SnapshotBuilder::AppendVolumeChildren(uint32_t node, uint32_t source,
                                                   const webc::Volume& volume,
                                                   std::span<const webc::Entry> children) {
  const size_t count = children.size() + overrides_.size();
  WEBCFS_RETURN_IF_ERROR(CheckRoomFor(count));
  webc::LargeArray<Node>& nodes = s_.nodes_;
  const auto first = static_cast<uint32_t>(nodes.size());
  size_t o = 0;
  for (const webc::Entry& child : children) {
    if (o < overrides_.size()) {
      const std::string_view name = volume.NameOf(child);
      while (o < overrides_.size() && overrides_[o].name < name) AppendNode(node, overrides_[o++]);
    }
    Node n;
    n.parent = node;
    n.source = source;
    n.entry = volume.IndexOf(child);
    n.type = child.is_dir() ? NodeType::kDirectory : NodeType::kFile;
    nodes.push_back(n);  // a plain directory's subdirectories are plain: no Pending
  }
  while (o < overrides_.size()) AppendNode(node, overrides_[o++]);
  Publish(node, first, count);
  return Ok();
}

// The reservation is an upper bound (MaxNodes), so this fails only past
// kMaxNodes or on a bug; growing the array would move nodes other threads read.
Result<void> SnapshotBuilder::CheckRoomFor(size_t children) const {
  if (s_.nodes_.size() + children <= s_.nodes_.capacity()) return Ok();
  return Error::ResourceLimit("merged tree has more than " + std::to_string(s_.nodes_.capacity()) +
                              " entries");
}

Result<void> SnapshotBuilder::AppendChildren(uint32_t parent) {
  WEBCFS_RETURN_IF_ERROR(CheckRoomFor(merged_.size()));
  const auto first = static_cast<uint32_t>(s_.nodes_.size());
  for (const ChildSpec& spec : merged_) AppendNode(parent, spec);
  Publish(parent, first, merged_.size());
  return Ok();
}

// REQUIRES: CheckRoomFor counted this node.
void SnapshotBuilder::AppendNode(uint32_t parent, const ChildSpec& spec) {
  Node n;
  n.parent = parent;
  n.source = spec.source;
  n.entry = spec.entry;
  n.type = spec.type;
  n.flags = spec.flags | (spec.own_name ? Node::kOwnName : 0);
  const auto index = static_cast<uint32_t>(s_.nodes_.size());
  if (spec.own_name) SetOwnName(index, spec.name);
  s_.nodes_.push_back(n);
  const bool plain = spec.layer_count == 1 && spec.mounts == nullptr && spec.virt == nullptr &&
                     layer_pool_[spec.layer_begin].source == spec.source &&
                     layer_pool_[spec.layer_begin].entry == spec.entry;
  if (spec.type == NodeType::kDirectory && !plain) {
    pending_[index] = {spec.layer_begin, spec.layer_count, spec.mounts, spec.virt};
  }
}

// Makes the children visible: the count first, then the directory's range,
// then its `expanded` flag, which readers load with acquire.
void SnapshotBuilder::Publish(uint32_t dir, uint32_t first, size_t count) {
  s_.node_count_.store(s_.nodes_.size(), std::memory_order_release);
  Node& node = s_.nodes_[dir];
  node.first_child = first;
  node.child_count = static_cast<uint32_t>(count);
  std::atomic_ref<uint8_t>(node.expanded).store(1, std::memory_order_release);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::Build(
    std::shared_ptr<const resolver::Resolution> resolution, const SnapshotOptions& options) {
  if (resolution == nullptr) return Error::InvalidArgument("no resolution to serve");
  std::shared_ptr<Snapshot> s(new Snapshot());
  s->resolution_ = std::move(resolution);
  s->builder_ = std::make_unique<SnapshotBuilder>(*s);
  WEBCFS_RETURN_IF_ERROR(s->builder_->Build(options));
  for (const resolver::ResolvedPackage& p : s->resolution_->packages) {
    const int fd = p.container != nullptr ? p.container->source().fd() : -1;
    s->guards_.push_back(fd >= 0 ? std::make_unique<const FileGuard>(fd, p.webc_sha256) : nullptr);
  }
  return std::shared_ptr<const Snapshot>(std::move(s));
}

Snapshot::Snapshot() = default;
Snapshot::~Snapshot() = default;

Result<void> Snapshot::Expand(const Node& dir) const {
  if (!dir.is_dir()) return Ok();
  if (std::atomic_ref<uint8_t>(const_cast<uint8_t&>(dir.expanded))
          .load(std::memory_order_acquire) != 0) {
    return Ok();
  }
  std::lock_guard<std::mutex> lock(expand_mu_);
  auto expanded = builder_->Expand(IndexOf(dir));
  if (!expanded) return std::move(expanded).error().With("directory '" + PathOf(dir) + "'");
  return Ok();
}

std::span<const Node> Snapshot::Children(const Node& dir) const {
  if (!Expand(dir)) return {};
  return std::span<const Node>(nodes_.data() + dir.first_child, dir.child_count);
}

std::string_view Snapshot::NameOf(const Node& n) const {
  if (n.flags & Node::kOwnName) {
    const uint32_t index = IndexOf(n);
    const auto* begin = own_names_.data();
    const auto* end = begin + own_name_count_.load(std::memory_order_acquire);
    auto it = std::lower_bound(begin, end, index,
                               [](const auto& own, uint32_t i) { return own.first < i; });
    return it != end && it->first == index ? it->second : std::string_view();
  }
  if (n.source == Node::kNone || &n == &root()) return {};  // the root
  const webc::Volume& volume = *sources_[n.source].volume;
  return volume.NameOf(volume.EntryAt(n.entry));
}

std::string Snapshot::PathOf(const Node& n) const {
  if (&n == &root()) return "/";
  std::vector<std::string_view> parts;
  for (const Node* at = &n; at != &root(); at = &ParentOf(*at)) parts.push_back(NameOf(*at));
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path.append("/").append(*it);
  return path;
}

const Node* Snapshot::Find(const Node& dir, std::string_view name) const {
  if (!dir.is_dir()) return nullptr;
  std::span<const Node> children = Children(dir);
  auto it =
      std::lower_bound(children.begin(), children.end(), name,
                       [this](const Node& n, std::string_view key) { return NameOf(n) < key; });
  if (it == children.end() || NameOf(*it) != name) return nullptr;
  return &*it;
}

const Node* Snapshot::Lookup(std::string_view path) const {
  const Node* n = &root();
  while (!path.empty() && n != nullptr) {
    const size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (!part.empty()) n = Find(*n, part);
  }
  return n;
}

uint32_t Snapshot::SubdirCount(const Node& dir) const {
  uint32_t count = 0;
  for (const Node& c : Children(dir)) count += c.is_dir() ? 1 : 0;
  return count;
}

uint64_t Snapshot::FileSize(const Node& file) const {
  if (!file.is_file()) return 0;
  if (file.flags & Node::kBlob) return blobs_[file.entry].size();
  return sources_[file.source].volume->EntryAt(file.entry).size;
}

int64_t Snapshot::MtimeSeconds(const Node& n) const {
  if (n.source == Node::kNone || (n.flags & Node::kBlob)) return default_mtime_;
  const Source& src = sources_[n.source];
  const uint64_t stored = src.volume->EntryAt(n.entry).mtime;
  return stored != 0 ? NormalizeMtime(stored) : src.file_mtime;
}

FileExtent Snapshot::Extent(const Node& file) const {
  FileExtent x;
  if (file.flags & Node::kBlob) {
    x.blob = blobs_[file.entry];
    x.size = x.blob.size();
    return x;
  }
  const Source& src = sources_[file.source];
  const webc::Entry& e = src.volume->EntryAt(file.entry);
  x.source = &src.container->source();
  x.guard = guards_[src.package].get();
  x.offset = e.data_offset();
  x.size = e.size;
  return x;
}

const resolver::ResolvedPackage* Snapshot::PackageOf(const Node& n) const {
  if (n.source == Node::kNone || (n.flags & Node::kBlob)) return nullptr;
  return &resolution_->packages[sources_[n.source].package];
}

std::string_view Snapshot::VolumeNameOf(const Node& n) const {
  if (n.source == Node::kNone || (n.flags & Node::kBlob)) return {};
  const Source& src = sources_[n.source];
  if (src.volume == &src.container->atoms()) return "atoms";
  return src.volume->name();
}

Result<std::optional<webc::Sha256Digest>> Snapshot::StoredHash(const Node& n) const {
  if (!n.is_file() || n.source == Node::kNone || (n.flags & Node::kBlob)) {
    return std::optional<webc::Sha256Digest>();
  }
  const Source& src = sources_[n.source];
  return src.container->StoredHash(src.volume->EntryAt(n.entry));
}

SnapshotMemory Snapshot::Memory() const {
  SnapshotMemory m;
  m.nodes = node_count() * sizeof(Node);
  m.own_names = own_names_.capacity() * sizeof(own_names_[0]);
  for (const std::string& b : blobs_) m.blobs += sizeof(std::string) + b.capacity();
  m.other = sizeof(Snapshot) + sources_.capacity() * sizeof(Source);
  std::vector<const webc::Volume*> seen;
  for (const Source& s : sources_) {
    if (std::find(seen.begin(), seen.end(), s.volume) != seen.end()) continue;
    seen.push_back(s.volume);
    m.borrowed_names += s.volume->name_bytes();
  }
  return m;
}

bool IsValidComponent(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > webc::kMaxNameLength)
    return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string EscapePackageId(std::string_view id) {
  std::string out;
  out.reserve(id.size() + 2);
  for (char c : id) {
    if (c == '/') {
      out += "--";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace webcfs::fuse
