#include "resolver/graph.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "resolver/quote.h"
#include "resolver/specifier.h"

namespace webcfs::resolver {
namespace {

// Unification re-walks the graph with more versions pinned; each round pins
// at least one more name or changes a pin, so a handful of rounds is normal.
// The bound only stops a pathological registry from looping forever.
constexpr int kMaxUnifyRounds = 64;
constexpr size_t kMaxPackages = 100'000;

using Pins = std::map<std::string, Candidate, std::less<>>;

// The graph plus, per edge, the requirement it expresses (for unification).
struct Walk {
  Graph graph;
  std::vector<std::vector<UseTarget>> targets;  // parallel to graph.nodes[i].edges
  // The first failed `use` of each node, kept instead of returned at once: the
  // node may be a version that unification replaces, making the error moot.
  std::vector<std::optional<Error>> failures;
};

Result<std::vector<Candidate>> VersionsWithRoot(PackageSource& packages, std::string_view name,
                                                const Candidate& root) {
  auto listed = packages.Versions(name);
  if (!listed) return std::move(listed).error();
  std::vector<Candidate> versions = std::move(*listed);
  if (!root.full_name.empty() && root.full_name == name) {
    // The root is fixed: it replaces any registry package with the same id.
    std::erase_if(versions, [&](const Candidate& c) { return c.id == root.id; });
    versions.push_back(root);
  }
  std::erase_if(versions, [](const Candidate& c) { return !c.version; });
  std::sort(versions.begin(), versions.end(),
            [](const Candidate& a, const Candidate& b) { return *a.version > *b.version; });
  return versions;
}

std::string ListVersions(const std::vector<Candidate>& versions) {
  std::string out;
  for (const Candidate& c : versions) {
    if (!out.empty()) out += ", ";
    out += c.version->ToString();
  }
  return out;
}

Result<Candidate> Choose(const UseTarget& target, PackageSource& packages, const Pins& pins,
                         const Candidate& root) {
  if (target.kind == UseTarget::Kind::kHash) {
    if (root.id == HashId(target.sha256_hex)) return root;
    return packages.ByHash(target.sha256_hex);
  }
  if (auto pin = pins.find(target.full_name);
      pin != pins.end() && target.requirement.Matches(*pin->second.version)) {
    return pin->second;
  }
  auto listed = VersionsWithRoot(packages, target.full_name, root);
  if (!listed) return std::move(listed).error();
  const std::vector<Candidate>& versions = *listed;
  if (versions.empty()) {
    return Error::NotFound("no package " + target.full_name + " in the registries");
  }
  for (const Candidate& c : versions) {
    if (target.requirement.Matches(*c.version)) return c;
  }
  return Error::NotFound("no version of " + target.full_name + " matches " +
                         target.requirement.text() + " (available: " + ListVersions(versions) +
                         ")");
}

// The names the `use` entries of `level` will ask the registries for.
std::vector<std::string> NamesToList(const Graph& graph, const std::vector<size_t>& level,
                                     PackageSource& packages, const Pins& pins) {
  std::vector<std::string> names;
  for (size_t i : level) {
    for (const webc::Dependency& use : packages.Uses(graph.nodes[i].package)) {
      auto target = ParseUse(use);
      if (!target || target->kind != UseTarget::Kind::kRegistry) continue;
      if (pins.contains(target->full_name)) continue;
      if (std::find(names.begin(), names.end(), target->full_name) == names.end()) {
        names.push_back(target->full_name);
      }
    }
  }
  return names;
}

Result<Walk> WalkOnce(const Candidate& root, PackageSource& packages, const Pins& pins) {
  Walk walk;
  std::unordered_map<std::string, size_t> index_of;
  walk.graph.nodes.push_back(GraphNode{root, {}});
  walk.targets.emplace_back();
  walk.failures.emplace_back();
  index_of.emplace(root.id, 0);

  std::vector<size_t> level = {0};
  while (!level.empty()) {
    std::vector<Candidate> batch;
    for (size_t i : level) batch.push_back(walk.graph.nodes[i].package);
    WEBCFS_RETURN_IF_ERROR(packages.Load(batch));
    packages.Prefetch(NamesToList(walk.graph, level, packages, pins));

    std::vector<size_t> next;
    for (size_t i : level) {
      // Copy: push_back below may reallocate graph.nodes.
      const Candidate requirer = walk.graph.nodes[i].package;
      for (const webc::Dependency& use : packages.Uses(requirer)) {
        auto context = [&] {
          std::string req = use.specifier ? *use.specifier : std::string(kEmbeddedRequirement);
          return requirer.id + ": dependency " + Quote(use.alias) + " (" + req + ")";
        };
        auto target = ParseUse(use);
        if (!target) {
          walk.failures[i] = std::move(target).error().With(context());
          break;
        }
        auto chosen = Choose(*target, packages, pins, root);
        if (!chosen) {
          walk.failures[i] = std::move(chosen).error().With(context());
          break;
        }

        size_t to;
        if (auto it = index_of.find(chosen->id); it != index_of.end()) {
          to = it->second;
        } else {
          if (walk.graph.nodes.size() >= kMaxPackages) {
            return Error::ResourceLimit("more than " + std::to_string(kMaxPackages) +
                                        " packages in the dependency tree");
          }
          to = walk.graph.nodes.size();
          walk.graph.nodes.push_back(GraphNode{*chosen, {}});
          walk.targets.emplace_back();
          walk.failures.emplace_back();
          index_of.emplace(chosen->id, to);
          next.push_back(to);
        }
        walk.graph.nodes[i].edges.push_back(GraphEdge{use.alias, target->requirement_text, to});
        walk.targets[i].push_back(std::move(*target));
      }
    }
    level = std::move(next);
  }
  return walk;
}

// Names present at more than one version, each with its node indices.
std::map<std::string, std::vector<size_t>> SplitNames(const Graph& graph) {
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Candidate& c = graph.nodes[i].package;
    if (!c.full_name.empty()) by_name[c.full_name].push_back(i);
  }
  std::erase_if(by_name, [](const auto& kv) { return kv.second.size() < 2; });
  return by_name;
}

// Picks one version of `name` that satisfies every edge into `nodes`, or a
// Conflict naming every requirer and requirement.
Result<Candidate> Unify(const Walk& walk, const std::string& name, const std::vector<size_t>& nodes,
                        PackageSource& packages, const Candidate& root) {
  struct Need {
    std::string requirer;
    std::string alias;
    std::string text;
    VersionReq req;
  };
  std::vector<Need> needs;
  std::set<size_t> members(nodes.begin(), nodes.end());
  for (size_t i = 0; i < walk.graph.nodes.size(); ++i) {
    const GraphNode& n = walk.graph.nodes[i];
    for (size_t e = 0; e < n.edges.size(); ++e) {
      if (!members.count(n.edges[e].target)) continue;
      const UseTarget& t = walk.targets[i][e];
      const Candidate& target = walk.graph.nodes[n.edges[e].target].package;
      // A hash reference pins the exact version it points at.
      VersionReq req =
          t.kind == UseTarget::Kind::kHash ? VersionReq::Exact(*target.version) : t.requirement;
      needs.push_back(Need{n.package.id, n.edges[e].alias, n.edges[e].requirement, req});
    }
  }
  auto listed = VersionsWithRoot(packages, name, root);
  if (!listed) return std::move(listed).error();
  std::vector<Candidate> versions = std::move(*listed);
  bool is_root = root.full_name == name;
  if (is_root) versions = {root};  // the root's version cannot move
  for (const Candidate& c : versions) {
    bool all = std::all_of(needs.begin(), needs.end(),
                           [&](const Need& n) { return n.req.Matches(*c.version); });
    if (all) return c;
  }
  std::string msg = "conflicting requirements on " + name + ": ";
  for (size_t i = 0; i < needs.size(); ++i) {
    if (i) msg += ", ";
    msg += needs[i].requirer + " requires " + needs[i].text + " (as " + Quote(needs[i].alias) + ")";
  }
  if (is_root) {
    msg += "; the root package is " + root.id;
  } else {
    msg += "; no version satisfies all of them (available: " + ListVersions(versions) + ")";
  }
  return Error::Conflict(msg);
}

// Depth-first search for a cycle; returns it as node indices, first == last.
std::optional<std::vector<size_t>> FindCycle(const Graph& graph) {
  enum Color : uint8_t { kWhite, kGray, kBlack };
  std::vector<Color> color(graph.nodes.size(), kWhite);
  std::vector<std::pair<size_t, size_t>> stack;  // (node, next edge)
  for (size_t start = 0; start < graph.nodes.size(); ++start) {
    if (color[start] != kWhite) continue;
    stack.push_back({start, 0});
    color[start] = kGray;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == graph.nodes[node].edges.size()) {
        color[node] = kBlack;
        stack.pop_back();
        continue;
      }
      size_t to = graph.nodes[node].edges[next++].target;
      if (color[to] == kGray) {
        std::vector<size_t> cycle;
        auto from = std::find_if(stack.begin(), stack.end(),
                                 [&](const auto& frame) { return frame.first == to; });
        for (auto it = from; it != stack.end(); ++it) cycle.push_back(it->first);
        // Start at the node closest to the root (lowest index), as Wasmer does.
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
        cycle.push_back(cycle.front());
        return cycle;
      }
      if (color[to] == kWhite) {
        color[to] = kGray;
        stack.push_back({to, 0});
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::string FormatCycle(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += " \u2192 ";
    out += ids[i];
  }
  return out;
}

Result<UseTarget> ParseUse(const webc::Dependency& use) {
  UseTarget t;
  if (use.embedded) {
    // A vendored dependency: its own wapm annotation names the exact package.
    const webc::Manifest& m = *use.embedded;
    if (!m.package_name || !m.package_version) {
      return Error::InvalidArgument("embedded manifest has no wapm name and version");
    }
    WEBCFS_RETURN_IF_ERROR(ValidatePackageName(*m.package_name));
    auto v = Version::Parse(*m.package_version);
    if (!v) return std::move(v).error().With("embedded manifest");
    t.full_name = *m.package_name;
    t.requirement = VersionReq::Exact(*v);
    t.requirement_text = std::string(kEmbeddedRequirement);
    return t;
  }
  if (!use.specifier) return Error::InvalidArgument("neither a specifier nor a manifest");
  auto spec = ParseSpecifier(*use.specifier);
  if (!spec) return std::move(spec).error();
  t.requirement_text = *use.specifier;
  switch (spec->kind) {
    case Specifier::Kind::kUrl:
      return Error::Unsupported("URL dependencies need a remote source, which webcfs lacks");
    case Specifier::Kind::kPath:
      // A package must not reach outside what it was given (docs/architecture.md,
      // "Safety rules").
      return Error::InvalidArgument("a package may not depend on a host path");
    case Specifier::Kind::kHash:
      t.kind = UseTarget::Kind::kHash;
      t.sha256_hex = spec->sha256_hex;
      return t;
    case Specifier::Kind::kRegistry:
      if (!spec->registry.empty()) {
        return Error::Unsupported("registry " + Quote(spec->registry) +
                                  " is not available (only directory registries are)");
      }
      t.full_name = spec->full_name;
      t.requirement = spec->requirement;
      return t;
  }
  return Error::InvalidArgument("unknown specifier kind");
}

Result<Graph> BuildGraph(const Candidate& root, PackageSource& packages) {
  Pins pins;
  if (!root.full_name.empty()) pins.emplace(root.full_name, root);
  for (int round = 0; round < kMaxUnifyRounds; ++round) {
    auto walk = WalkOnce(root, packages, pins);
    if (!walk) return std::move(walk).error();
    auto split = SplitNames(walk->graph);
    if (split.empty()) {
      for (auto& failure : walk->failures) {
        if (failure) return std::move(*failure);
      }
      if (auto cycle = FindCycle(walk->graph)) {
        std::vector<std::string> ids;
        for (size_t i : *cycle) ids.push_back(walk->graph.nodes[i].package.id);
        return Error::InvalidArgument("dependency cycle: " + FormatCycle(ids));
      }
      return std::move(walk->graph);
    }
    bool changed = false;
    for (const auto& [name, nodes] : split) {
      auto chosen = Unify(*walk, name, nodes, packages, root);
      if (!chosen) return std::move(chosen).error();
      auto old = pins.find(name);
      if (old == pins.end() || old->second.id != chosen->id) changed = true;
      pins.insert_or_assign(name, *chosen);
    }
    if (!changed) break;  // no progress: report below rather than loop
  }
  return Error::Conflict("version unification did not settle after " +
                         std::to_string(kMaxUnifyRounds) + " rounds");
}

std::vector<size_t> PrecedenceOrder(const Graph& graph) {
  std::vector<size_t> post;
  if (graph.nodes.empty()) return post;
  std::vector<bool> seen(graph.nodes.size(), false);
  std::vector<std::pair<size_t, size_t>> stack = {{0, 0}};  // (node, next edge)
  seen[0] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next == graph.nodes[node].edges.size()) {
      post.push_back(node);
      stack.pop_back();
      continue;
    }
    size_t to = graph.nodes[node].edges[next++].target;
    if (!seen[to]) {
      seen[to] = true;
      stack.push_back({to, 0});
    }
  }
  std::reverse(post.begin(), post.end());
  return post;
}

}  // namespace webcfs::resolver
