#include "tests/unit/resolver/package_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/common/paths.h"
#include "webc/base/sha256.h"
#include "webc/writer.h"

namespace webcfs::resolver::testing {
namespace {

webc::WriteNode FileNode(const std::string& contents) {
  webc::WriteNode n;
  n.contents = contents;
  n.mtime = 1700000000;
  return n;
}

webc::WriteNode TreeOf(const std::map<std::string, std::string>& files) {
  webc::WriteNode root;
  root.is_dir = true;
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
    if (!rest.empty()) dir->children[rest] = FileNode(contents);
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

PackageBuilder::PackageBuilder(std::string full_name, std::string version)
    : full_name_(std::move(full_name)), version_(std::move(version)) {}

PackageBuilder& PackageBuilder::Use(const std::string& alias, const std::string& specifier) {
  uses_[alias] = specifier;
  return *this;
}

PackageBuilder& PackageBuilder::UseEmbedded(const std::string& alias, const std::string& name,
                                            const std::string& version) {
  uses_[alias] = {{"package", {{"wapm", {{"name", name}, {"version", version}}}}}};
  return *this;
}

PackageBuilder& PackageBuilder::Atom(const std::string& name, std::optional<std::string> bytes) {
  std::string b = bytes ? *bytes : WasmBytes(full_name_ + ":" + name);
  atoms_[name] = b;
  atoms_json_[name] = {{"kind", "https://webc.org/kind/wasm"},
                       {"signature", "sha256:" + webc::ToBase64(webc::Sha256::Of(b))}};
  return *this;
}

PackageBuilder& PackageBuilder::Command(const std::string& name, std::optional<std::string> atom,
                                        std::optional<std::string> dependency,
                                        const std::string& runner) {
  nlohmann::ordered_json annotations = nlohmann::ordered_json::object();
  if (atom) {
    annotations["atom"] = {{"name", *atom}};
    if (dependency) annotations["atom"]["dependency"] = *dependency;
    annotations["wasi"] = {{"atom", dependency ? *dependency + ":" + *atom : *atom}};
  }
  commands_[name] = {{"runner", runner}, {"annotations", annotations}};
  return *this;
}

PackageBuilder& PackageBuilder::RawCommand(const std::string& name,
                                           nlohmann::ordered_json command) {
  commands_[name] = std::move(command);
  return *this;
}

PackageBuilder& PackageBuilder::Entrypoint(const std::string& command) {
  entrypoint_ = command;
  return *this;
}

PackageBuilder& PackageBuilder::Volume(const std::string& name,
                                       std::map<std::string, std::string> files) {
  volumes_[name] = std::move(files);
  return *this;
}

PackageBuilder& PackageBuilder::Fs(const std::string& mount_path, const std::string& volume,
                                   std::optional<std::string> from,
                                   std::optional<std::string> original_path) {
  if (!fs_) fs_ = nlohmann::ordered_json::array();
  nlohmann::ordered_json entry = {{"from", from ? nlohmann::ordered_json(*from) : nullptr},
                                  {"volume_name", volume}};
  if (original_path) entry["original_path"] = *original_path;
  entry["mount_path"] = mount_path;
  fs_->push_back(std::move(entry));
  return *this;
}

PackageBuilder& PackageBuilder::EmptyFs() {
  fs_ = nlohmann::ordered_json::array();
  return *this;
}

std::string PackageBuilder::ManifestJson() const {
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  if (!uses_.empty()) m["use"] = uses_;
  nlohmann::ordered_json package = nlohmann::ordered_json::object();
  if (!full_name_.empty()) {
    package["wapm"] = {{"name", full_name_}, {"version", version_}, {"description", "test"}};
  }
  if (fs_) package["fs"] = *fs_;
  if (!package.empty()) m["package"] = package;
  if (!atoms_json_.empty()) m["atoms"] = atoms_json_;
  if (!commands_.empty()) m["commands"] = commands_;
  if (entrypoint_) m["entrypoint"] = *entrypoint_;
  return m.dump();
}

void PackageBuilder::Write(const std::string& path) const {
  webc::WriteInput in;
  in.manifest_json = ManifestJson();
  for (const auto& [name, bytes] : atoms_) in.atoms[name] = FileNode(bytes);
  for (const auto& [name, files] : volumes_) in.volumes.push_back({name, TreeOf(files)});
  auto r = webc::WriteV3(in, path);
  ASSERT_TRUE(r.ok()) << path << ": " << r.error().message();
}

std::string PackageBuilder::WriteTo(const std::filesystem::path& dir,
                                    const std::string& file_name) const {
  std::string name = file_name;
  if (name.empty()) {
    std::string flat = full_name_;
    size_t slash = flat.find('/');
    if (slash != std::string::npos) flat.replace(slash, 1, "--");
    name = flat + "@" + version_ + ".webc";
  }
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  Write(path);
  return path;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/webcfs-resolver-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Cache entries are made read-only; the directory itself stays writable.
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path FixturePath(const std::string& name) {
  return webcfs::testing::FixturePath(name);
}

ResolveOptions TestOptions(const std::filesystem::path& tmp) {
  ResolveOptions o;
  o.registries = {(tmp / "registry").string()};
  o.cache_dir = (tmp / "cache").string();
  return o;
}

Resolution MustResolve(const std::string& spec, const ResolveOptions& options) {
  auto r = Resolve(spec, options);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.error().message();
  return r ? std::move(*r) : Resolution{};
}

std::vector<std::string> PackageIds(const Resolution& r) {
  std::vector<std::string> ids;
  for (const auto& p : r.packages) ids.push_back(p.id);
  return ids;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace webcfs::resolver::testing
