// The one test package builder: WEBC v3 packages in a few lines (webc::WriteV3
// with a generated manifest), either field by field or fluently:
//   PackageBuilder("t/app", "1.0.0").Use("lib", "t/lib@^1").Command("run", "run").WriteTo(dir);
// Mappings and commands take the manifest's own JSON shape
// (docs/webc-format.md §6-§7).
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "webc/writer.h"

namespace webcfs::testing {

inline constexpr const char* kWasiRunner = "https://webc.org/runner/wasi";

// The smallest valid wasm module (magic + version) and a custom section
// naming `tag`, to tell atoms apart.
std::string WasmBytes(const std::string& tag);

webc::WriteNode Dir(std::map<std::string, webc::WriteNode> children = {}, uint64_t mtime = 0);
webc::WriteNode File(std::string contents, uint64_t mtime = 0);

class PackageBuilder {
 public:
  PackageBuilder() = default;
  // An empty name makes an unnamed package (no wapm annotation).
  PackageBuilder(std::string full_name, std::string version);

  std::string name;     // "ns/name"; empty = no wapm annotation
  std::string version;  // "1.0.0"
  std::vector<webc::WriteVolume> volumes;
  std::map<std::string, webc::WriteNode> atoms;  // atom name -> file
  std::optional<nlohmann::ordered_json> fs;      // present (even empty) when set
  nlohmann::ordered_json commands = nlohmann::ordered_json::object();
  nlohmann::ordered_json use = nlohmann::ordered_json::object();
  std::optional<std::string> entrypoint;

  PackageBuilder& Use(const std::string& alias, const std::string& specifier);
  PackageBuilder& UseEmbedded(const std::string& alias, const std::string& name,
                              const std::string& version);
  // An atom with `bytes`, by default WasmBytes("<name>:<atom>").
  PackageBuilder& Atom(const std::string& atom, std::optional<std::string> bytes = std::nullopt);
  // A command with an `atom` annotation (when `atom` is set) and a `wasi` one.
  PackageBuilder& Command(const std::string& command,
                          std::optional<std::string> atom = std::nullopt,
                          std::optional<std::string> dependency = std::nullopt,
                          const std::string& runner = kWasiRunner);
  // A command given as raw manifest JSON ({"runner": ..., "annotations": ...}).
  PackageBuilder& RawCommand(const std::string& command, nlohmann::ordered_json json);
  PackageBuilder& Entrypoint(const std::string& command);
  // A volume holding `root` (a Dir).
  PackageBuilder& Volume(const std::string& volume, webc::WriteNode root);
  // A volume with files at relative paths ("a/b.txt"); "dir/" makes an empty dir.
  PackageBuilder& Volume(const std::string& volume, std::map<std::string, std::string> files);
  // An `fs` entry mounting `volume` (this package's, or the dependency
  // `from`'s) at `mount_path`; `original_path` is a directory inside it.
  PackageBuilder& Fs(const std::string& mount_path, const std::string& volume,
                     std::optional<std::string> from = std::nullopt,
                     std::optional<std::string> original_path = std::nullopt);
  // An `fs` annotation that is present but empty.
  PackageBuilder& EmptyFs();

  std::string ManifestJson() const;
  // Writes to `path`; fails the test on error.
  void Write(const std::string& path) const;
  // Writes "<dir>/<ns>--<name>@<version>.webc" (or "<dir>/<file_name>") and
  // returns the path; fails the test on error.
  std::string WriteTo(const std::filesystem::path& dir, const std::string& file_name = "") const;
};

// Writes `p` as a v3 container; returns an error message or "".
std::string WritePackage(const PackageBuilder& p, const std::string& path);

// The registry file name of a named package: "ns--name@1.0.0.webc".
std::string RegistryFileName(const PackageBuilder& p);

}  // namespace webcfs::testing
