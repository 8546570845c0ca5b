// The control directory (`/.webc` by default): read-only facts about the
// mounted resolution, so external tools and runtimes need no second resolver.
//
//   resolution.json                     the lockfile (Resolution::ToLockfileJson())
//   commands/<command>.wasm             the atom implementing each command
//   atoms/<package>/<atom>.wasm         every atom of every package
//   packages/<package>/manifest.json    every package's manifest as JSON
//
// <package> is the package id with '/' replaced by "--" ("ns/name@1.2.3" ->
// "ns--name@1.2.3", the registry's file-name convention; "sha256:<hex>" ids
// stay as they are). Should two ids escape to the same name, the one earlier in
// precedence order is shown. Atom and command files are the atoms' bytes in
// their containers, not copies.
#include <string>
#include <utility>

#include "fuse/snapshot_internal.h"

namespace webcfs::fuse {

namespace {

VirtualEntry Dir(std::string name) {
  VirtualEntry d;
  d.name = std::move(name);
  d.type = NodeType::kDirectory;
  return d;
}

VirtualEntry BlobFile(std::string name, uint32_t blob) {
  VirtualEntry f;
  f.name = std::move(name);
  f.type = NodeType::kFile;
  f.blob = blob;
  return f;
}

VirtualEntry EntryFile(std::string name, uint32_t source, uint32_t entry) {
  VirtualEntry f;
  f.name = std::move(name);
  f.type = NodeType::kFile;
  f.source = source;
  f.entry = entry;
  return f;
}

}  // namespace

VirtualEntry BuildControlDir(const resolver::Resolution& resolution, const std::string& name,
                             SnapshotBuilderContext& ctx) {
  VirtualEntry root = Dir(name);
  root.children.push_back(BlobFile("resolution.json", ctx.AddBlob(resolution.ToLockfileJson())));

  VirtualEntry commands = Dir("commands");
  for (const resolver::CommandEntry& c : resolution.commands) {
    std::string file = c.name + ".wasm";
    if (!IsValidComponent(file) || c.atom_package >= resolution.packages.size()) continue;
    const resolver::ResolvedPackage& pkg = resolution.packages[c.atom_package];
    if (pkg.container == nullptr) continue;
    const webc::Entry* atom = pkg.container->FindAtom(c.atom);
    if (atom == nullptr || !atom->is_file()) continue;
    const webc::Volume& atoms = pkg.container->atoms();
    commands.children.push_back(
        EntryFile(std::move(file), ctx.SourceFor(static_cast<uint32_t>(c.atom_package), atoms),
                  atoms.IndexOf(*atom)));
  }

  VirtualEntry atoms_dir = Dir("atoms");
  VirtualEntry packages_dir = Dir("packages");
  for (size_t i = 0; i < resolution.packages.size(); ++i) {
    const resolver::ResolvedPackage& pkg = resolution.packages[i];
    std::string dir_name = EscapePackageId(pkg.id);
    if (pkg.container == nullptr || !IsValidComponent(dir_name)) continue;
    const webc::Volume& atoms = pkg.container->atoms();
    VirtualEntry package_atoms = Dir(dir_name);
    for (const webc::Entry& e : atoms.Children(atoms.root())) {
      std::string file = std::string(atoms.NameOf(e)) + ".wasm";
      if (!e.is_file() || !IsValidComponent(file)) continue;
      package_atoms.children.push_back(EntryFile(
          std::move(file), ctx.SourceFor(static_cast<uint32_t>(i), atoms), atoms.IndexOf(e)));
    }
    atoms_dir.children.push_back(std::move(package_atoms));

    VirtualEntry package_meta = Dir(std::move(dir_name));
    package_meta.children.push_back(
        BlobFile("manifest.json", ctx.AddBlob(pkg.container->manifest().json)));
    packages_dir.children.push_back(std::move(package_meta));
  }

  root.children.push_back(std::move(commands));
  root.children.push_back(std::move(atoms_dir));
  root.children.push_back(std::move(packages_dir));
  return root;
}

}  // namespace webcfs::fuse
