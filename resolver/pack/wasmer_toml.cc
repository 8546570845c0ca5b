// pack::PackDirectory: Wasmer's authoring format (wasmer.toml) → a WEBC v3 manifest
// and volumes, shaped like Wasmer's own transformation (wasmer-package
// `wasmer_manifest_to_webc`, see docs/webc-format.md §11):
//
//   [package]        → package.wapm {name, version, description, license,
//                      license-file, readme, repository, homepage, private};
//                      readme/license-file also go into the `metadata` volume
//   [dependencies]   → use {"ns/name": "ns/name@<req>"} (a bare 1.2.3 is ^1.2.3)
//   [[module]]       → atoms {name: {kind, signature: "sha256:<base64>"}}, sorted
//   [[command]]      → commands {name: {runner, annotations: {atom, wasi, ...}}}
//   [fs]             → one volume per host dir, named "/<host dir>", and
//                      package.fs [{from: null, volume_name, mount_path}];
//                      a value { from = "ns/name", volume = "dir" } (a webcfs
//                      extension; Wasmer's format has no way to say it) mounts
//                      a dependency's volume "/dir": {from: "ns/name", ...}
//   entrypoint       → [package].entrypoint, else the only command
//
// Every error names wasmer.toml with the line and column of the offending value.
#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "resolver/assemble.h"
#include "resolver/pack/pack.h"
#include "resolver/semver.h"
#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"
#include "webc/writer.h"

namespace webcfs::pack {
namespace {

using webc::Sha256;
using webc::Sha256Digest;
using webc::ToBase64;
using webc::TreeFromHostDirectory;
using webc::UniqueFd;
using webc::ValidateEntryName;
using webc::WriteInput;
using webc::WriteNode;
using webc::WriteV3;

using OrderedJson = nlohmann::ordered_json;

// Runner URIs (docs/webc-format.md §6).
constexpr char kWasiRunner[] = "https://webc.org/runner/wasi";
constexpr char kWcgiRunner[] = "https://webc.org/runner/wcgi";
constexpr char kWasm4Runner[] = "https://webc.org/runner/wasm4";
constexpr char kRunnerBase[] = "https://webc.org/runner/";
constexpr char kWasmKind[] = "https://webc.org/kind/wasm";
constexpr char kTensorflowKind[] = "https://webc.org/kind/tensorflow-SavedModel";
constexpr char kMetadataVolume[] = "metadata";

// Error context pointing into wasmer.toml: "DIR/wasmer.toml:12:7".
class Source {
 public:
  explicit Source(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  std::string At(const toml::source_region& r) const {
    if (r.begin.line == 0) return path_;
    return path_ + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
  }
  std::string At(const toml::node& n) const { return At(n.source()); }
  Error Invalid(const toml::node& n, const std::string& what) const {
    return Error::InvalidArgument(At(n) + ": " + what);
  }

 private:
  std::string path_;
};

const char* TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
}

// Members of a table in the order they appear in the file. toml++ keeps
// tables sorted by key; Wasmer keeps insertion order (IndexMap), and the
// order of [fs] and [dependencies] is visible in the manifest.
std::vector<std::pair<std::string, const toml::node*>> InFileOrder(const toml::table& t) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (auto&& [k, v] : t) out.emplace_back(std::string(k.str()), &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.second->source().begin;
    const auto& y = b.second->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return out;
}

Result<std::optional<std::string>> OptionalString(const Source& src, const toml::table& t,
                                                  std::string_view key, std::string_view where) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return std::optional<std::string>();
  if (!n->is_string()) {
    return src.Invalid(
        *n, std::string(where) + "." + std::string(key) + " must be a string, not " + TypeName(*n));
  }
  return std::optional<std::string>(n->as_string()->get());
}

Result<std::string> RequiredString(const Source& src, const toml::table& t, std::string_view key,
                                   std::string_view where) {
  auto v = OptionalString(src, t, key, where);
  if (!v) return std::move(v).error();
  if (!*v) {
    return Error::InvalidArgument(src.At(t) + ": " + std::string(where) + " has no '" +
                                  std::string(key) + "'");
  }
  return std::move(**v);
}

OrderedJson TomlToJson(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return n.as_string()->get();
    case toml::node_type::integer:
      return n.as_integer()->get();
    case toml::node_type::floating_point:
      return n.as_floating_point()->get();
    case toml::node_type::boolean:
      return n.as_boolean()->get();
    case toml::node_type::array: {
      OrderedJson a = OrderedJson::array();
      for (const toml::node& e : *n.as_array()) a.push_back(TomlToJson(e));
      return a;
    }
    case toml::node_type::table: {
      OrderedJson o = OrderedJson::object();
      for (auto& [k, v] : InFileOrder(*n.as_table())) o[k] = TomlToJson(*v);
      return o;
    }
    default: {
      // Dates and times become strings, as Wasmer converts them.
      std::ostringstream s;
      if (n.is_date()) s << *n.as_date();
      if (n.is_time()) s << *n.as_time();
      if (n.is_date_time()) s << *n.as_date_time();
      return s.str();
    }
  }
}

// Wasmer's merge of user annotations into generated ones: maps merge key by
// key, arrays concatenate, equal scalars agree, null yields; anything else conflicts.
bool Merge(OrderedJson& into, const OrderedJson& add) {
  if (into.is_object() && add.is_object()) {
    for (auto& [k, v] : add.items()) {
      if (into.contains(k)) {
        if (!Merge(into[k], v)) return false;
      } else {
        into[k] = v;
      }
    }
    return true;
  }
  if (into.is_array() && add.is_array()) {
    for (const auto& v : add) into.push_back(v);
    return true;
  }
  if (into.is_null()) {
    into = add;
    return true;
  }
  if (add.is_null()) return true;
  return into == add && !into.is_object() && !into.is_array();
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// A version requirement as Rust's semver::VersionReq prints it: comparators
// joined by ", ", a bare version meaning ^version ("1.0.16" → "^1.0.16").
// Checked by the resolver's VersionReq, so a package declares only what a
// mount can resolve; `latest` and "" are specifier shorthands, not
// requirements Wasmer's wasmer.toml accepts.
Result<std::string> NormalizeRequirement(std::string_view req) {
  const std::string whole = Trim(req);
  if (whole.empty() || whole == "latest") {
    return Error::InvalidArgument("'" + whole + "' is not a version requirement");
  }
  WEBCFS_RETURN_IF_ERROR(resolver::VersionReq::Parse(whole));
  std::string out;
  size_t start = 0;
  while (true) {
    size_t comma = req.find(',', start);
    std::string c =
        Trim(req.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (c.empty()) return Error::InvalidArgument("empty comparator");
    if (c != "*") {
      size_t op_len = 0;
      for (std::string_view op : {">=", "<=", "=", ">", "<", "~", "^"}) {
        if (c.rfind(op, 0) == 0) {
          op_len = op.size();
          break;
        }
      }
      c = (op_len == 0 ? std::string("^") : c.substr(0, op_len)) +
          Trim(std::string_view(c).substr(op_len));
    }
    if (!out.empty()) out += ", ";
    out += c;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool IsPackagePart(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Normalizes a package-relative path ("./out/", "lib") to "/out", "/lib" by
// the resolver's rule for paths inside a volume, refusing anything that
// leaves the package directory.
Result<std::string> PackagePath(std::string_view path) {
  if (!path.empty() && path[0] == '/') {
    return Error::InvalidArgument("'" + std::string(path) + "' is absolute");
  }
  return resolver::NormalizeVolumePath(path);
}

// Guest mount paths, by the resolver's rule for mount paths; a relative one
// counts from the root ("lib" → "/lib"), as Wasmer's packer takes it.
Result<std::string> MountPath(std::string_view path) { return resolver::NormalizeVolumePath(path); }

std::string Join(const std::string& dir, const std::string& package_path) {
  return package_path == "/" ? dir : dir + package_path;
}

Result<Sha256Digest> HashFile(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error::Io(path, errno);
  Sha256 h;
  std::vector<std::byte> buf(size_t{1} << 20);
  while (true) {
    ssize_t r = ::read(fd.get(), buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::Io(path, errno);
    }
    if (r == 0) break;
    h.Update(std::span(buf.data(), static_cast<size_t>(r)));
  }
  return h.Finish();
}

struct Module {
  std::string name;
  std::string abi;  // "wasi", "emscripten", "wasm4", "none" (default)
};

class Packer {
 public:
  Packer(std::string dir, Source src) : dir_(std::move(dir)), src_(std::move(src)) {}

  Result<void> Run(const toml::table& doc, const std::string& out_path) {
    for (auto&& [k, v] : doc) {
      static const std::set<std::string, std::less<>> kKnown = {"package", "dependencies", "module",
                                                                "command", "fs"};
      if (!kKnown.contains(k.str())) {
        return Error::InvalidArgument(src_.At(k.source()) + ": unknown section '" +
                                      std::string(k.str()) + "'");
      }
    }
    WEBCFS_RETURN_IF_ERROR(Dependencies(doc));
    WEBCFS_RETURN_IF_ERROR(Package(doc));
    WEBCFS_RETURN_IF_ERROR(Fs(doc));
    WEBCFS_RETURN_IF_ERROR(Modules(doc));
    WEBCFS_RETURN_IF_ERROR(Commands(doc));

    OrderedJson manifest = OrderedJson::object();
    if (!use_.empty()) manifest["use"] = use_;
    OrderedJson package = OrderedJson::object();
    if (!wapm_.is_null()) package["wapm"] = wapm_;
    if (!fs_.empty()) package["fs"] = fs_;
    if (!package.empty()) manifest["package"] = package;
    if (!atoms_.empty()) manifest["atoms"] = atoms_;
    if (!commands_.empty()) manifest["commands"] = commands_;
    if (entrypoint_) {
      manifest["entrypoint"] = *entrypoint_;
    } else if (commands_.size() == 1) {
      manifest["entrypoint"] = commands_.begin().key();  // Wasmer: the only command
    }
    input_.manifest_json = manifest.dump();
    input_.volumes.push_back({kMetadataVolume, std::move(metadata_)});
    return WriteV3(input_, out_path);
  }

 private:
  Result<const toml::table*> Section(const toml::table& doc, std::string_view key) {
    const toml::node* n = doc.get(key);
    if (n == nullptr) return static_cast<const toml::table*>(nullptr);
    if (!n->is_table()) {
      return src_.Invalid(*n, "'" + std::string(key) + "' must be a table, not " + TypeName(*n));
    }
    return n->as_table();
  }

  Result<void> Dependencies(const toml::table& doc) {
    auto deps = Section(doc, "dependencies");
    if (!deps) return std::move(deps).error();
    if (*deps == nullptr) return Ok();
    for (auto& [name, value] : InFileOrder(**deps)) {
      size_t slash = name.find('/');
      if (slash == std::string::npos || !IsPackagePart(name.substr(0, slash)) ||
          !IsPackagePart(name.substr(slash + 1))) {
        return src_.Invalid(*value,
                            "dependency '" + name + "' is not in the \"namespace/name\" format");
      }
      if (!value->is_string()) {
        return src_.Invalid(*value, "dependency '" + name +
                                        "': the version requirement must be "
                                        "a string, not " +
                                        TypeName(*value));
      }
      auto req = NormalizeRequirement(value->as_string()->get());
      if (!req) {
        return src_.Invalid(*value, "dependency '" + name +
                                        "': invalid version requirement: " + req.error().message());
      }
      use_[name] = name + "@" + *req;
    }
    return Ok();
  }

  Result<void> Package(const toml::table& doc) {
    auto pkg = Section(doc, "package");
    if (!pkg) return std::move(pkg).error();
    if (*pkg == nullptr) return Ok();
    const toml::table& t = **pkg;
    wapm_ = OrderedJson::object();
    for (const char* key : {"name", "version", "description", "license"}) {
      auto v = OptionalString(src_, t, key, "package");
      if (!v) return std::move(v).error();
      if (*v) wapm_[key] = **v;
    }
    if (wapm_.contains("version") &&
        !resolver::Version::Parse(wapm_["version"].get<std::string>()).ok()) {
      return src_.Invalid(*t.get("version"), "package.version '" +
                                                 wapm_["version"].get<std::string>() +
                                                 "' is not a semantic version (x.y.z)");
    }
    for (const char* key : {"license-file", "readme"}) {
      auto v = OptionalString(src_, t, key, "package");
      if (!v) return std::move(v).error();
      if (!*v) continue;
      auto rel = PackagePath(**v);
      if (!rel || *rel == "/") {
        return src_.Invalid(*t.get(key), std::string("package.") + key + ": " +
                                             (rel ? "not a file" : rel.error().message()));
      }
      auto added = AddMetadataFile(*rel);
      if (!added)
        return src_.Invalid(*t.get(key),
                            std::string("package.") + key + ": " + added.error().message());
      wapm_[key] = {{"volume", kMetadataVolume}, {"path", *rel}};
    }
    for (const char* key : {"repository", "homepage"}) {
      auto v = OptionalString(src_, t, key, "package");
      if (!v) return std::move(v).error();
      if (*v) wapm_[key] = **v;
    }
    if (const toml::node* n = t.get("private")) {
      if (!n->is_boolean()) return src_.Invalid(*n, "package.private must be a boolean");
      if (n->as_boolean()->get()) wapm_["private"] = true;
    }
    auto entry = OptionalString(src_, t, "entrypoint", "package");
    if (!entry) return std::move(entry).error();
    entrypoint_ = std::move(*entry);
    return Ok();
  }

  // Adds a package file to the `metadata` volume at its package-relative path.
  Result<void> AddMetadataFile(const std::string& rel) {
    const std::string host = Join(dir_, rel);
    struct stat st {};
    if (::stat(host.c_str(), &st) != 0) return Error::Io(host, errno);
    if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(host + ": not a regular file");
    WriteNode* d = &metadata_;
    size_t start = 1;
    while (true) {
      size_t slash = rel.find('/', start);
      std::string part = rel.substr(start, slash == std::string::npos ? slash : slash - start);
      WEBCFS_RETURN_IF_ERROR(ValidateEntryName(part));
      if (slash == std::string::npos) {
        WriteNode file;
        file.host_path = host;
        file.mtime = static_cast<uint64_t>(std::max<time_t>(st.st_mtim.tv_sec, 0));
        d->children[part] = std::move(file);
        return Ok();
      }
      d = &d->children[part];
      d->is_dir = true;
      start = slash + 1;
    }
  }

  Result<void> Fs(const toml::table& doc) {
    auto table = Section(doc, "fs");
    if (!table) return std::move(table).error();
    if (*table == nullptr) return Ok();
    std::set<std::string> mounts;
    std::set<std::string> volumes;
    for (auto& [guest, host] : InFileOrder(**table)) {
      if (host->is_table()) {
        auto mount = MountPath(guest);
        if (!mount) return src_.Invalid(*host, "fs '" + guest + "': " + mount.error().message());
        if (!mounts.insert(*mount).second) {
          return src_.Invalid(*host, "fs: mount path '" + *mount + "' is mapped twice");
        }
        WEBCFS_RETURN_IF_ERROR(FsFromDependency(guest, *mount, *host->as_table()));
        continue;
      }
      if (!host->is_string()) {
        return src_.Invalid(*host, "fs '" + guest + "': the host directory must be a string, not " +
                                       TypeName(*host));
      }
      auto mount = MountPath(guest);
      if (!mount) return src_.Invalid(*host, "fs '" + guest + "': " + mount.error().message());
      if (!mounts.insert(*mount).second) {
        return src_.Invalid(*host, "fs: mount path '" + *mount + "' is mapped twice");
      }
      auto volume = PackagePath(host->as_string()->get());
      if (!volume) return src_.Invalid(*host, "fs '" + guest + "': " + volume.error().message());
      if (*volume == "/") {
        return src_.Invalid(*host, "fs '" + guest +
                                       "': the package directory itself cannot be a "
                                       "volume; name a subdirectory");
      }
      fs_.push_back({{"from", nullptr}, {"volume_name", *volume}, {"mount_path", *mount}});
      if (!volumes.insert(*volume).second) continue;  // one volume per host directory
      auto tree = TreeFromHostDirectory(Join(dir_, *volume));
      if (!tree) return src_.Invalid(*host, "fs '" + guest + "': " + tree.error().message());
      input_.volumes.push_back({*volume, std::move(*tree)});
    }
    return Ok();
  }

  // [fs] "/guest" = { from = "ns/name", volume = "dir" }: the volume "/dir" of
  // the dependency "ns/name" (its alias), not a directory of this package.
  Result<void> FsFromDependency(const std::string& guest, const std::string& mount,
                                const toml::table& t) {
    for (auto& [key, value] : t) {
      if (key.str() != "from" && key.str() != "volume") {
        return src_.Invalid(value, "fs '" + guest + "': unknown key '" + std::string(key.str()) +
                                       "' (expected from, volume)");
      }
    }
    auto from = OptionalString(src_, t, "from", "fs '" + guest + "'");
    if (!from) return std::move(from).error();
    auto volume = OptionalString(src_, t, "volume", "fs '" + guest + "'");
    if (!volume) return std::move(volume).error();
    if (!*from || !*volume) {
      return src_.Invalid(t, "fs '" + guest + "': a table needs both from and volume");
    }
    if (!use_.contains(**from)) {
      return src_.Invalid(*t.get("from"), "fs '" + guest + "': from names '" + **from +
                                              "', which is not in [dependencies]");
    }
    auto name = PackagePath(**volume);
    if (!name || *name == "/") {
      return src_.Invalid(
          *t.get("volume"),
          "fs '" + guest + "': volume: " + (name ? "names no directory" : name.error().message()));
    }
    fs_.push_back({{"from", **from}, {"volume_name", *name}, {"mount_path", mount}});
    return Ok();
  }

  Result<const toml::array*> ArrayOfTables(const toml::table& doc, std::string_view key) {
    const toml::node* n = doc.get(key);
    if (n == nullptr) return static_cast<const toml::array*>(nullptr);
    if (!n->is_array_of_tables()) {
      return src_.Invalid(*n, "'" + std::string(key) + "' must be an array of tables ([[" +
                                  std::string(key) + "]])");
    }
    return n->as_array();
  }

  Result<void> Modules(const toml::table& doc) {
    auto modules = ArrayOfTables(doc, "module");
    if (!modules) return std::move(modules).error();
    if (*modules == nullptr) return Ok();
    std::map<std::string, OrderedJson> atoms;  // Wasmer sorts atoms by name
    for (const toml::node& node : **modules) {
      const toml::table& m = *node.as_table();
      auto name = RequiredString(src_, m, "name", "module");
      if (!name) return std::move(name).error();
      const std::string where = "module '" + *name + "'";
      if (auto valid = ValidateEntryName(*name); !valid) {
        return src_.Invalid(*m.get("name"), where + ": " + valid.error().message());
      }
      if (atoms.contains(*name)) return src_.Invalid(m, "duplicate module '" + *name + "'");
      auto source = RequiredString(src_, m, "source", where);
      if (!source) return std::move(source).error();
      auto rel = PackagePath(*source);
      if (!rel || *rel == "/") {
        return src_.Invalid(*m.get("source"),
                            where + ": source: " + (rel ? "not a file" : rel.error().message()));
      }
      const std::string host = Join(dir_, *rel);
      auto digest = HashFile(host);
      if (!digest) {
        return src_.Invalid(*m.get("source"), where + ": cannot read source '" + *source +
                                                  "': " + digest.error().message());
      }
      auto kind = OptionalString(src_, m, "kind", where);
      if (!kind) return std::move(kind).error();
      std::string kind_uri = kWasmKind;
      if (*kind && **kind == "tensorflow-SavedModel") {
        kind_uri = kTensorflowKind;
      } else if (*kind && **kind != "wasm") {
        if ((*kind)->find("://") == std::string::npos) {
          return src_.Invalid(*m.get("kind"), where + ": unknown kind '" + **kind + "'");
        }
        kind_uri = **kind;
      }
      auto abi = OptionalString(src_, m, "abi", where);
      if (!abi) return std::move(abi).error();
      if (m.get("bindings") != nullptr) {
        return Error::Unsupported(src_.At(*m.get("bindings")) + ": " + where +
                                  ": bindings are not supported by webcfs pack");
      }
      atoms[*name] = {{"kind", kind_uri}, {"signature", "sha256:" + ToBase64(*digest)}};
      WriteNode atom;
      atom.host_path = host;
      input_.atoms[*name] = std::move(atom);
      modules_.push_back({*name, abi->value_or("none")});
    }
    for (auto& [name, atom] : atoms) atoms_[name] = std::move(atom);
    return Ok();
  }

  // Wasmer's runner names: short names and full URIs; anything else that is
  // not a URL lives under https://webc.org/runner/.
  static std::string RunnerUri(const std::string& runner) {
    if (runner == "wasi" || runner == "wasi@unstable_" || runner == "generic" ||
        runner == kWasiRunner) {
      return kWasiRunner;
    }
    if (runner == "wcgi" || runner == kWcgiRunner) return kWcgiRunner;
    if (runner == "wasm4" || runner == kWasm4Runner) return kWasm4Runner;
    if (runner.find(':') != std::string::npos) return runner;
    return kRunnerBase + runner;
  }

  Result<void> Commands(const toml::table& doc) {
    auto commands = ArrayOfTables(doc, "command");
    if (!commands) return std::move(commands).error();
    if (*commands == nullptr) return Ok();
    for (const toml::node& node : **commands) {
      const toml::table& c = *node.as_table();
      auto name = RequiredString(src_, c, "name", "command");
      if (!name) return std::move(name).error();
      const std::string where = "command '" + *name + "'";
      if (commands_.contains(*name)) return src_.Invalid(c, "duplicate command '" + *name + "'");
      auto module = RequiredString(src_, c, "module", where);
      if (!module) return std::move(module).error();
      const toml::node& module_node = *c.get("module");

      // "dependency:module" names a module of a `use` dependency.
      std::optional<std::string> dependency;
      std::string atom = *module;
      if (size_t colon = module->find(':'); colon != std::string::npos) {
        dependency = module->substr(0, colon);
        atom = module->substr(colon + 1);
        if (atom.find(':') != std::string::npos || atom.empty() || dependency->empty()) {
          return src_.Invalid(module_node, where + ": module '" + *module +
                                               "' is not \"module\" or \"dependency:module\"");
        }
        if (!use_.contains(*dependency)) {
          return src_.Invalid(module_node, where + " references the undeclared dependency '" +
                                               *dependency + "' (add it to [dependencies])");
        }
      }
      const Module* local = nullptr;
      if (!dependency) {
        auto it = std::find_if(modules_.begin(), modules_.end(),
                               [&](const Module& m) { return m.name == atom; });
        if (it == modules_.end()) {
          return src_.Invalid(module_node, where + " uses the unknown module '" + atom + "'");
        }
        local = &*it;
      }

      // A command with `runner` (or `annotations`) is Wasmer's CommandV2; without
      // one it is the old CommandV1 whose runner follows the module's abi.
      auto runner = OptionalString(src_, c, "runner", where);
      if (!runner) return std::move(runner).error();
      const bool v2 = runner->has_value() || c.get("annotations") != nullptr;
      std::string runner_uri;
      if (runner->has_value()) {
        runner_uri = RunnerUri(**runner);
      } else if (local != nullptr && local->abi == "emscripten") {
        runner_uri = std::string(kRunnerBase) + "emscripten";
      } else if (local != nullptr && local->abi == "wasm4") {
        runner_uri = kWasm4Runner;
      } else {
        runner_uri = kWasiRunner;
      }

      OrderedJson annotations = OrderedJson::object();
      annotations["atom"] = {{"name", atom}};
      if (dependency) annotations["atom"]["dependency"] = *dependency;
      if (runner_uri == kWasiRunner || runner_uri == kWcgiRunner) {
        OrderedJson wasi = {{"atom", *module}};
        if (!v2) {
          auto package = OptionalString(src_, c, "package", where);
          if (!package) return std::move(package).error();
          if (*package) wasi["package"] = **package;
          auto args = OptionalString(src_, c, "main_args", where);
          if (!args) return std::move(args).error();
          if (*args) {
            // As Wasmer does for CommandV1: split on whitespace, no shell quoting.
            OrderedJson list = OrderedJson::array();
            std::istringstream words(**args);
            for (std::string w; words >> w;) list.push_back(w);
            wasi["main-args"] = list;
          }
        }
        annotations["wasi"] = wasi;
      }
      if (const toml::node* user = c.get("annotations")) {
        if (!user->is_table()) {
          return src_.Invalid(*user, where +
                                         ": annotations must be a table (file-based "
                                         "annotations are not supported)");
        }
        for (auto& [key, value] : InFileOrder(*user->as_table())) {
          OrderedJson v = TomlToJson(*value);
          if (!annotations.contains(key)) {
            annotations[key] = std::move(v);
          } else if (!Merge(annotations[key], v)) {
            return src_.Invalid(
                *value, where + ": annotation '" + key + "' conflicts with the generated one");
          }
        }
      }
      commands_[*name] = {{"runner", runner_uri}, {"annotations", annotations}};
    }
    return Ok();
  }

  std::string dir_;
  Source src_;
  WriteInput input_;
  WriteNode metadata_ = [] {
    WriteNode n;
    n.is_dir = true;
    return n;
  }();
  std::vector<Module> modules_;
  OrderedJson use_ = OrderedJson::object();
  OrderedJson wapm_;  // null when there is no [package]
  OrderedJson fs_ = OrderedJson::array();
  OrderedJson atoms_ = OrderedJson::object();
  OrderedJson commands_ = OrderedJson::object();
  std::optional<std::string> entrypoint_;
};

}  // namespace

Result<void> PackDirectory(const std::string& dir_in, const std::string& out_path) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string toml_path = dir + "/wasmer.toml";
  std::ifstream in(toml_path, std::ios::binary);
  if (!in) return Error::Io(toml_path, errno != 0 ? errno : ENOENT);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Source src(toml_path);
  toml::table doc;
  try {
    doc = toml::parse(text, toml_path);
  } catch (const toml::parse_error& e) {
    return Error::InvalidArgument(src.At(e.source()) + ": " + std::string(e.description()));
  }
  try {
    return Packer(dir, src).Run(doc, out_path);
  } catch (const std::exception& e) {
    // nlohmann or the standard library; our code itself does not throw.
    return Error::InvalidArgument(toml_path + ": " + e.what());
  }
}

}  // namespace webcfs::pack
