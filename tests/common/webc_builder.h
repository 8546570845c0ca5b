// Test helpers: build WEBC v3 packages in a few lines (webc::WriteV3 with a
// generated manifest) and temporary directories that clean up after
// themselves. Header-only so that every test binary can include it.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "tests/common/paths.h"
#include "webc/base/sha256.h"
#include "webc/container.h"
#include "webc/writer.h"

namespace webcfs::testing {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "webcfs-test") {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline webc::WriteNode Dir(std::map<std::string, webc::WriteNode> children = {},
                           uint64_t mtime = 0) {
  webc::WriteNode n;
  n.is_dir = true;
  n.children = std::move(children);
  n.mtime = mtime;
  return n;
}

inline webc::WriteNode File(std::string contents, uint64_t mtime = 0) {
  webc::WriteNode n;
  n.contents = std::move(contents);
  n.mtime = mtime;
  return n;
}

// One package to write. Mappings and commands are given in the manifest's own
// JSON shape (docs/webc-format.md §6-§7).
struct PackageSpec {
  std::string name;     // "ns/name"; empty = no wapm annotation
  std::string version;  // "1.0.0"
  std::vector<webc::WriteVolume> volumes;
  std::map<std::string, webc::WriteNode> atoms;  // atom name -> file
  nlohmann::ordered_json fs = nlohmann::ordered_json::array();
  nlohmann::ordered_json commands = nlohmann::ordered_json::object();
  nlohmann::ordered_json use = nlohmann::ordered_json::object();
  std::optional<std::string> entrypoint;

  // Adds an `fs` mapping of this package's volume (or a dependency's, `from`).
  PackageSpec& Map(const std::string& volume, const std::string& mount_path,
                   std::optional<std::string> from = std::nullopt,
                   std::optional<std::string> host_path = std::nullopt) {
    nlohmann::ordered_json m;
    m["from"] = from ? nlohmann::ordered_json(*from) : nlohmann::ordered_json(nullptr);
    m["volume_name"] = volume;
    if (host_path) m["host_path"] = *host_path;
    m["mount_path"] = mount_path;
    fs.push_back(m);
    return *this;
  }
  PackageSpec& Volume(const std::string& name, webc::WriteNode root) {
    volumes.push_back({name, std::move(root)});
    return *this;
  }
  PackageSpec& Command(const std::string& command, const std::string& atom) {
    commands[command] = {{"runner", "https://webc.org/runner/wasi"},
                         {"annotations", {{"atom", {{"name", atom}}}, {"wasi", {{"atom", atom}}}}}};
    return *this;
  }
};

inline std::string ManifestJson(const PackageSpec& p) {
  nlohmann::ordered_json m;
  if (!p.use.empty()) m["use"] = p.use;
  nlohmann::ordered_json package;
  if (!p.name.empty()) package["wapm"] = {{"name", p.name}, {"version", p.version}};
  if (!p.fs.empty()) package["fs"] = p.fs;
  m["package"] = package;
  nlohmann::ordered_json atoms = nlohmann::ordered_json::object();
  for (const auto& [name, node] : p.atoms) {
    atoms[name] = {{"kind", "https://webc.org/kind/wasm"},
                   {"signature", "sha256:" + webc::ToBase64(webc::Sha256::Of(node.contents))}};
  }
  if (!atoms.empty()) m["atoms"] = atoms;
  if (!p.commands.empty()) m["commands"] = p.commands;
  if (p.entrypoint) m["entrypoint"] = *p.entrypoint;
  return m.dump();
}

// Writes `p` as a v3 container; returns an error message or "".
inline std::string WritePackage(const PackageSpec& p, const std::string& path) {
  webc::WriteInput in;
  in.manifest_json = ManifestJson(p);
  in.atoms = p.atoms;
  in.volumes = p.volumes;
  auto r = webc::WriteV3(in, path);
  return r ? std::string() : r.error().message();
}

// The registry file name of a named package: "ns--name@1.0.0.webc".
inline std::string RegistryFileName(const PackageSpec& p) {
  std::string n = p.name;
  const size_t slash = n.find('/');
  if (slash != std::string::npos) n.replace(slash, 1, "--");
  return n + "@" + p.version + ".webc";
}

}  // namespace webcfs::testing
