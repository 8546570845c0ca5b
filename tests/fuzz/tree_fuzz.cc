// libFuzzer target: the merged-tree builder (fuse/snapshot.h) from a fuzzed
// container: its manifest's `fs` mappings (mount paths, `from`, original_path)
// and its volumes. The container is the root package and, under the alias of
// every `use` it declares, also its own dependency, so `from` mappings resolve.
// Any input must give an Error or a snapshot whose tree is well formed.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "fuse/snapshot.h"
#include "resolver/assemble.h"
#include "resolver/resolution.h"
#include "webc/container.h"

namespace {

using webcfs::fuse::Node;
using webcfs::fuse::Snapshot;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool ValidName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 255 &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

// Every node is reachable once from the root, names are valid single
// components, children sorted and unique, parents consistent, and every file
// extent lies inside its source.
void CheckTree(const Snapshot& s) {
  std::vector<uint32_t> seen(s.max_nodes(), 0);
  std::vector<uint32_t> stack = {0};
  seen[0] = 1;
  std::vector<std::byte> scratch(64);
  while (!stack.empty()) {
    const Node& dir = *s.NodeAt(stack.back());
    const uint32_t dir_index = stack.back();
    stack.pop_back();
    Check(dir.is_dir());
    Check(s.Expand(dir).ok());  // an in-memory snapshot: nothing to fail on
    Check(static_cast<uint64_t>(dir.first_child) + dir.child_count <= s.node_count());
    std::string_view previous;
    bool first = true;
    for (const Node& child : s.Children(dir)) {
      const uint32_t i = s.IndexOf(child);
      Check(ValidName(s.NameOf(child)));
      Check(first || previous < s.NameOf(child));
      first = false;
      previous = s.NameOf(child);
      Check(child.parent == dir_index);
      Check(s.Find(dir, s.NameOf(child)) == &child);
      Check(seen[i] == 0);  // no node has two parents, no cycles
      seen[i] = 1;
      if (child.is_dir()) {
        stack.push_back(i);
        continue;
      }
      const webcfs::fuse::FileExtent x = s.Extent(child);
      Check(x.size == s.FileSize(child));
      if (x.source == nullptr) {
        Check(x.blob.size() == x.size);
      } else {
        Check(x.offset <= x.source->size() && x.size <= x.source->size() - x.offset);
        const uint64_t n = x.size < scratch.size() ? x.size : scratch.size();
        (void)x.source->Read(x.offset, n, scratch.data());
      }
      (void)s.StoredHash(child);
      (void)s.MtimeSeconds(child);
    }
  }
  // Every node built is in the tree; the walk expanded every directory, and
  // the reservation held them all.
  Check(s.node_count() <= s.max_nodes());
  for (size_t i = 0; i < seen.size(); ++i) Check(seen[i] == (i < s.node_count() ? 1u : 0u));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const webcfs::webc::ByteSource> source = webcfs::webc::MemorySource(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.webc");
  webcfs::webc::OpenOptions options;
  options.max_entries = 200'000;  // bounded memory per input; the limit itself is tested
  auto opened = webcfs::webc::Container::Open(source, options);
  if (!opened) return 0;
  std::shared_ptr<const webcfs::webc::Container> container = std::move(*opened);

  auto r = std::make_shared<webcfs::resolver::Resolution>();
  r->packages.resize(2);
  r->packages[0].id = "fuzz/root@1.0.0";
  r->packages[1].id = "fuzz/dep@1.0.0";
  for (auto& p : r->packages) p.container = container;
  for (const auto& use : container->manifest().uses) {
    r->packages[0].dependencies.push_back({use.alias, "<fuzz>", 1});
  }
  if (!webcfs::resolver::AssembleMappings(*r)) return 0;
  webcfs::resolver::AssembleCommands(*r);
  for (const auto& m : r->mappings) {
    // What assembly lets through is absolute and normalized.
    Check(!m.mount_path.empty() && m.mount_path[0] == '/');
    auto again = webcfs::resolver::NormalizeMountPath(m.mount_path);
    Check(again && *again == m.mount_path);
  }
  for (const std::string meta : {".webc", ""}) {
    webcfs::fuse::SnapshotOptions snapshot_options;
    snapshot_options.meta_dir = meta;
    auto snapshot = Snapshot::Build(r, snapshot_options);
    if (snapshot) CheckTree(**snapshot);
  }
  return 0;
}
