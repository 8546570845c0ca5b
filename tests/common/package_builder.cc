#include "tests/common/package_builder.h"

#include <gtest/gtest.h>

#include <utility>

#include "webc/base/sha256.h"

namespace webcfs::testing {
namespace {

webc::WriteNode TreeOf(const std::map<std::string, std::string>& files) {
  webc::WriteNode root = Dir();
  for (const auto& [path, contents] : files) {
    webc::WriteNode* dir = &root;
    std::string rest = path;
    while (true) {
      size_t slash = rest.find('/');
      if (slash == std::string::npos) break;
      webc::WriteNode& child = dir->children[rest.substr(0, slash)];
      child.is_dir = true;
      dir = &child;
      rest = rest.substr(slash + 1);
    }
    if (!rest.empty()) dir->children[rest] = File(contents);
  }
  return root;
}

}  // namespace

std::string WasmBytes(const std::string& tag) {
  // magic, version 1, then a custom section (id 0) naming the tag.
  std::string bytes("\0asm\x01\0\0\0", 8);
  bytes += '\0';
  bytes += static_cast<char>(1 + tag.size());
  bytes += static_cast<char>(tag.size());
  bytes += tag;
  return bytes;
}

webc::WriteNode Dir(std::map<std::string, webc::WriteNode> children, uint64_t mtime) {
  webc::WriteNode n;
  n.is_dir = true;
  n.children = std::move(children);
  n.mtime = mtime;
  return n;
}

webc::WriteNode File(std::string contents, uint64_t mtime) {
  webc::WriteNode n;
  n.contents = std::move(contents);
  n.mtime = mtime;
  return n;
}

PackageBuilder::PackageBuilder(std::string full_name, std::string version_text)
    : name(std::move(full_name)), version(std::move(version_text)) {}

PackageBuilder& PackageBuilder::Use(const std::string& alias, const std::string& specifier) {
  use[alias] = specifier;
  return *this;
}

PackageBuilder& PackageBuilder::UseEmbedded(const std::string& alias, const std::string& full_name,
                                            const std::string& version_text) {
  use[alias] = {{"package", {{"wapm", {{"name", full_name}, {"version", version_text}}}}}};
  return *this;
}

PackageBuilder& PackageBuilder::Atom(const std::string& atom, std::optional<std::string> bytes) {
  atoms[atom] = File(bytes ? *bytes : WasmBytes(name + ":" + atom));
  return *this;
}

PackageBuilder& PackageBuilder::Command(const std::string& command, std::optional<std::string> atom,
                                        std::optional<std::string> dependency,
                                        const std::string& runner) {
  nlohmann::ordered_json annotations = nlohmann::ordered_json::object();
  if (atom) {
    annotations["atom"] = {{"name", *atom}};
    if (dependency) annotations["atom"]["dependency"] = *dependency;
    annotations["wasi"] = {{"atom", dependency ? *dependency + ":" + *atom : *atom}};
  }
  commands[command] = {{"runner", runner}, {"annotations", annotations}};
  return *this;
}

PackageBuilder& PackageBuilder::RawCommand(const std::string& command,
                                           nlohmann::ordered_json json) {
  commands[command] = std::move(json);
  return *this;
}

PackageBuilder& PackageBuilder::Entrypoint(const std::string& command) {
  entrypoint = command;
  return *this;
}

PackageBuilder& PackageBuilder::Volume(const std::string& volume, webc::WriteNode root) {
  volumes.push_back({volume, std::move(root)});
  return *this;
}

PackageBuilder& PackageBuilder::Volume(const std::string& volume,
                                       std::map<std::string, std::string> files) {
  return Volume(volume, TreeOf(files));
}

PackageBuilder& PackageBuilder::Fs(const std::string& mount_path, const std::string& volume,
                                   std::optional<std::string> from,
                                   std::optional<std::string> original_path) {
  if (!fs) fs = nlohmann::ordered_json::array();
  nlohmann::ordered_json entry = {{"from", from ? nlohmann::ordered_json(*from) : nullptr},
                                  {"volume_name", volume}};
  if (original_path) entry["original_path"] = *original_path;
  entry["mount_path"] = mount_path;
  fs->push_back(std::move(entry));
  return *this;
}

PackageBuilder& PackageBuilder::EmptyFs() {
  fs = nlohmann::ordered_json::array();
  return *this;
}

std::string PackageBuilder::ManifestJson() const {
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  if (!use.empty()) m["use"] = use;
  nlohmann::ordered_json package = nlohmann::ordered_json::object();
  if (!name.empty()) package["wapm"] = {{"name", name}, {"version", version}};
  if (fs) package["fs"] = *fs;
  if (!package.empty()) m["package"] = package;
  nlohmann::ordered_json atoms_json = nlohmann::ordered_json::object();
  for (const auto& [atom, node] : atoms) {
    atoms_json[atom] = {{"kind", "https://webc.org/kind/wasm"},
                        {"signature", "sha256:" + webc::ToBase64(webc::Sha256::Of(node.contents))}};
  }
  if (!atoms_json.empty()) m["atoms"] = atoms_json;
  if (!commands.empty()) m["commands"] = commands;
  if (entrypoint) m["entrypoint"] = *entrypoint;
  return m.dump();
}

void PackageBuilder::Write(const std::string& path) const {
  const std::string error = WritePackage(*this, path);
  ASSERT_EQ(error, "") << path;
}

std::string PackageBuilder::WriteTo(const std::filesystem::path& dir,
                                    const std::string& file_name) const {
  std::filesystem::create_directories(dir);
  const std::string path =
      (dir / (file_name.empty() ? RegistryFileName(*this) : file_name)).string();
  Write(path);
  return path;
}

std::string WritePackage(const PackageBuilder& p, const std::string& path) {
  webc::WriteInput in;
  in.manifest_json = p.ManifestJson();
  in.atoms = p.atoms;
  in.volumes = p.volumes;
  auto r = webc::WriteV3(in, path);
  return r ? std::string() : r.error().message();
}

std::string RegistryFileName(const PackageBuilder& p) {
  std::string n = p.name;
  const size_t slash = n.find('/');
  if (slash != std::string::npos) n.replace(slash, 1, "--");
  return n + "@" + p.version + ".webc";
}

}  // namespace webcfs::testing
