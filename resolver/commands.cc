// Command table and entrypoint (docs/architecture.md, Resolution steps 6
// and 8; docs/webc-format.md §8).
#include <set>

#include "resolver/assemble.h"
#include "resolver/quote.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

// Runners whose commands default to the atom named like the command.
constexpr std::string_view kWasiRunner = "https://webc.org/runner/wasi";
constexpr std::string_view kWcgiRunner = "https://webc.org/runner/wcgi";

// The atom of `c` first in byte order of names ("first atom" of the legacy
// rule: Wasmer's container hands atoms out as a sorted map).
std::optional<std::string> FirstAtom(const webc::Container& c) {
  const webc::Volume& atoms = c.atoms();
  std::optional<std::string_view> first;
  for (const webc::Entry& e : atoms.Children(atoms.root())) {
    if (!e.is_file()) continue;
    std::string_view name = atoms.NameOf(e);
    if (!first || name < *first) first = name;
  }
  if (!first) return std::nullopt;
  return std::string(*first);
}

// Resolves one command's atom; a failure is the reason it is left out.
Result<CommandEntry> ResolveCommand(const Resolution& r, size_t pkg, const webc::Command& cmd) {
  CommandEntry entry;
  entry.name = cmd.name;
  entry.package = pkg;
  entry.atom_package = pkg;
  entry.runner = cmd.runner;
  webc::AtomRef ref;
  if (cmd.atom) {
    ref = *cmd.atom;
  } else if (cmd.runner.starts_with(kWasiRunner) || cmd.runner.starts_with(kWcgiRunner)) {
    ref.name = cmd.name;
  } else {
    return Error::Unsupported("runner " + Quote(cmd.runner) +
                              " names no atom and has no default atom");
  }
  if (ref.dependency) {
    const Edge* edge = nullptr;
    for (const Edge& e : r.packages[pkg].dependencies) {
      if (e.alias == *ref.dependency) {
        edge = &e;
        break;
      }
    }
    if (edge == nullptr) {
      return Error::NotFound("its atom's dependency " + Quote(*ref.dependency) +
                             " is not a dependency alias of this package");
    }
    entry.atom_package = edge->package;
  }
  const ResolvedPackage& holder = r.packages[entry.atom_package];
  if (holder.container->FindAtom(ref.name) != nullptr) {
    entry.atom = ref.name;
    return entry;
  }
  if (cmd.annotations_empty && !ref.dependency) {
    // Legacy hack (Wasmer's load_package_tree.rs): old packages such as
    // sharrattj/coreutils list commands with no annotations at all.
    if (auto first = FirstAtom(*holder.container)) {
      entry.atom = *first;
      return entry;
    }
    return Error::NotFound("the package has no atoms");
  }
  return Error::NotFound("atom " + Quote(ref.name) + " does not exist in " + holder.id);
}

// Wasmer's rule: the root's own `entrypoint`; else, when the root has
// commands, its only one (none when several: ambiguous); only a root without
// commands inherits, from the first package in precedence order naming one.
std::optional<std::string> Entrypoint(const std::vector<ResolvedPackage>& packages) {
  if (packages.empty()) return std::nullopt;
  const webc::Manifest& root = packages[0].container->manifest();
  if (root.entrypoint) return root.entrypoint;
  if (root.commands.size() == 1) return root.commands[0].name;
  if (!root.commands.empty()) return std::nullopt;
  for (const ResolvedPackage& p : packages) {
    if (p.container->manifest().entrypoint) return p.container->manifest().entrypoint;
  }
  return std::nullopt;
}

}  // namespace

void AssembleCommands(Resolution& r) {
  r.commands.clear();
  std::set<std::string, std::less<>> seen;
  for (size_t pkg = 0; pkg < r.packages.size(); ++pkg) {
    for (const webc::Command& cmd : r.packages[pkg].container->manifest().commands) {
      // First occurrence in precedence order decides, even if it is then left
      // out: a dependency's same-named command does not take over (as Wasmer).
      if (!seen.insert(cmd.name).second) continue;
      auto entry = ResolveCommand(r, pkg, cmd);
      if (!entry) {
        r.warnings.push_back(r.packages[pkg].id + ": command " + Quote(cmd.name) +
                             " left out: " + entry.error().message());
        continue;
      }
      r.commands.push_back(std::move(*entry));
    }
  }

  r.entrypoint = Entrypoint(r.packages);
}

}  // namespace webcfs::resolver
