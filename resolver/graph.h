// The dependency graph (docs/architecture.md, Resolution steps 1–5), computed over
// an abstract PackageSource so the algorithm is testable without containers.
//
// Internal to resolver/ (and its tests).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/semver.h"
#include "webc/base/result.h"
#include "webc/manifest.h"

namespace webcfs::resolver {

// A package a PackageSource can provide. `handle` is the source's own key.
struct Candidate {
  std::string id;                  // "ns/name@1.2.3" or "sha256:<hex>"
  std::string full_name;           // "ns/name"; empty for an unnamed package
  std::optional<Version> version;  // set for named packages
  size_t handle = 0;
};

// Where packages come from. Not required to be thread-safe: BuildGraph calls
// it from one thread (Load may use workers internally).
class PackageSource {
 public:
  virtual ~PackageSource() = default;
  // Every package called `full_name`, in any order; an error when a source
  // cannot be asked (a remote registry that fails).
  virtual Result<std::vector<Candidate>> Versions(std::string_view full_name) = 0;
  // A hint that Versions will be called for each of these names: a remote
  // source may ask for them all at once. Errors surface from Versions.
  virtual void Prefetch(std::span<const std::string> /*full_names*/) {}
  // The package whose container bytes hash to `sha256_hex`; NotFound if none.
  virtual Result<Candidate> ByHash(std::string_view sha256_hex) = 0;
  // Makes Uses() available for these packages (RegistrySource opens the
  // containers here, in parallel). Errors name the package.
  virtual Result<void> Load(std::span<const Candidate> packages) = 0;
  // The `use` entries of a loaded package, in manifest order.
  virtual const std::vector<webc::Dependency>& Uses(const Candidate& package) = 0;
};

struct GraphEdge {
  std::string alias;
  std::string requirement;  // the specifier as written, or "<embedded>"
  size_t target = 0;        // index into Graph::nodes
};

struct GraphNode {
  Candidate package;
  std::vector<GraphEdge> edges;  // manifest order
};

struct Graph {
  std::vector<GraphNode> nodes;  // breadth-first discovery order; nodes[0] is the root
};

inline constexpr std::string_view kEmbeddedRequirement = "<embedded>";

// Breadth-first walk of `use` from `root`; identical ids share a node; the
// same name at several versions is unified to one version satisfying every
// requirement (or a Conflict error naming each requirer); cycles are errors
// printing the cycle.
Result<Graph> BuildGraph(const Candidate& root, PackageSource& packages);

// Precedence order (docs/architecture.md, Resolution step 5): a depth-first reverse post-order from
// the root, children visited in manifest order, which is what Wasmer's
// petgraph::algo::toposort yields for its breadth-first-built graph (see
// docs/resolution.md): the root first, each package before its dependencies,
// a later-declared dependency's subtree before an earlier-declared one.
// REQUIRES: the graph is acyclic (as BuildGraph returns it).
std::vector<size_t> PrecedenceOrder(const Graph& graph);

// The requirement a `use` entry expresses, as a parsed specifier; embedded
// manifests pin their exact wapm name and version.
struct UseTarget {
  enum class Kind { kRegistry, kHash };
  Kind kind = Kind::kRegistry;
  std::string full_name;
  VersionReq requirement;
  std::string sha256_hex;
  std::string requirement_text;
};
Result<UseTarget> ParseUse(const webc::Dependency& use);

// Formats "a@1.0.0 → b@1.0.0 → a@1.0.0".
std::string FormatCycle(const std::vector<std::string>& ids);

}  // namespace webcfs::resolver
