// Test packages built on the fly with webc::WriteV3, so each graph scenario
// is a few lines:
//   PackageBuilder("t/app", "1.0.0").Use("lib", "t/lib@^1").Command("run").WriteTo(dir);
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "resolver/resolution.h"

namespace webcfs::resolver::testing {

inline constexpr const char* kWasiRunner = "https://webc.org/runner/wasi";

// The smallest valid wasm module (magic + version), plus a tag to tell atoms apart.
std::string WasmBytes(const std::string& tag);

class PackageBuilder {
 public:
  // An empty name makes an unnamed package (no wapm annotation).
  PackageBuilder(std::string full_name, std::string version);

  PackageBuilder& Use(const std::string& alias, const std::string& specifier);
  PackageBuilder& UseEmbedded(const std::string& alias, const std::string& name,
                              const std::string& version);
  PackageBuilder& Atom(const std::string& name, std::optional<std::string> bytes = std::nullopt);
  // A command with an `atom` annotation (when `atom` is set) and a `wasi` one.
  PackageBuilder& Command(const std::string& name, std::optional<std::string> atom = std::nullopt,
                          std::optional<std::string> dependency = std::nullopt,
                          const std::string& runner = kWasiRunner);
  // A command given as raw manifest JSON ({"runner": ..., "annotations": ...}).
  PackageBuilder& RawCommand(const std::string& name, nlohmann::ordered_json command);
  PackageBuilder& Entrypoint(const std::string& command);
  // A volume with files at relative paths ("a/b.txt"); "dir/" makes an empty dir.
  PackageBuilder& Volume(const std::string& name, std::map<std::string, std::string> files);
  // An `fs` entry; adding any makes the `fs` annotation present.
  PackageBuilder& Fs(const std::string& mount_path, const std::string& volume,
                     std::optional<std::string> from = std::nullopt,
                     std::optional<std::string> original_path = std::nullopt);
  // An `fs` annotation that is present but empty.
  PackageBuilder& EmptyFs();

  std::string ManifestJson() const;
  // Writes to `path`; fails the test on error.
  void Write(const std::string& path) const;
  // Writes "<dir>/<ns>--<name>@<version>.webc" (or "<dir>/<file_name>") and returns the path.
  std::string WriteTo(const std::filesystem::path& dir, const std::string& file_name = "") const;

 private:
  std::string full_name_, version_;
  nlohmann::ordered_json uses_ = nlohmann::ordered_json::object();
  nlohmann::ordered_json commands_ = nlohmann::ordered_json::object();
  nlohmann::ordered_json atoms_json_ = nlohmann::ordered_json::object();
  std::map<std::string, std::string> atoms_;
  std::optional<std::string> entrypoint_;
  std::map<std::string, std::map<std::string, std::string>> volumes_;
  std::optional<nlohmann::ordered_json> fs_;
};

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// A bundled fixture (tests/fixtures/webc).
std::filesystem::path FixturePath(const std::string& name);

// Options for a test's temp dir: registry <tmp>/registry, cache <tmp>/cache.
ResolveOptions TestOptions(const std::filesystem::path& tmp);
// Resolve() that fails the test on error (and then returns an empty Resolution).
Resolution MustResolve(const std::string& spec, const ResolveOptions& options);
// The package ids of a resolution, in precedence order.
std::vector<std::string> PackageIds(const Resolution& r);

std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& bytes);

}  // namespace webcfs::resolver::testing
