// The lockfile (docs/architecture.md, Resolution step 9): writing it, and loading it without
// resolving anything.
//
// Shape (keys always in this order, so diffs are meaningful):
// {
//   "webcfs_lockfile": 1,
//   "root": "<id>",
//   "packages": [ { "id", "source", ["source_hex",] "webc_sha256",
//                   ["header_sha256", "webc_size",]
//                   "dependencies": [ { "alias", "requirement", "package": "<id>" } ] } ],
//   "mappings": [ { "package", "volume_package", "volume", "volume_path", "mount_path" } ],
//   "commands": [ { "name", "package", "atom_package", "atom", "runner" } ],
//   "entrypoint": "<command>" | null
// }
// Packages are listed in precedence order (the root first). `header_sha256` is
// the v3 header digest (docs/webc-format.md §5.4) and `webc_size` the
// container's size, present for v3 packages: together they let a remote
// package be mounted lazily. Lockfiles written before `webc_size` existed
// still load; their remote packages are downloaded whole.
#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "resolver/oci.h"
#include "resolver/resolve_internal.h"
#include "resolver/specifier.h"
#include "webc/base/regular_file.h"
#include "webc/base/utf8.h"

namespace webcfs::resolver {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kLockfileVersion = 1;
constexpr uint64_t kMaxLockfileBytes = 64 << 20;

Json MappingJson(const Resolution& r, const Mapping& m) {
  Json j = Json::object();
  j["package"] = r.packages[m.package].id;
  j["volume_package"] = r.packages[m.volume_package].id;
  j["volume"] = m.volume;
  j["volume_path"] = m.volume_path;
  j["mount_path"] = m.mount_path;
  return j;
}

Json CommandJson(const Resolution& r, const CommandEntry& c) {
  Json j = Json::object();
  j["name"] = c.name;
  j["package"] = r.packages[c.package].id;
  j["atom_package"] = r.packages[c.atom_package].id;
  j["atom"] = c.atom;
  j["runner"] = c.runner;
  return j;
}

// A source path is a file name, which need not be UTF-8, and a JSON string
// holds nothing else: a path that is not valid UTF-8 is also written as the
// hex of its exact bytes ("source_hex"), which loading prefers, so the
// lockfile names the very file it was resolved from.
std::string HexOf(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

std::optional<std::string> BytesOfHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

Json ToJson(const Resolution& r) {
  Json doc = Json::object();
  doc["webcfs_lockfile"] = kLockfileVersion;
  doc["root"] = r.packages.empty() ? Json() : Json(r.packages[0].id);
  Json packages = Json::array();
  for (const ResolvedPackage& p : r.packages) {
    Json j = Json::object();
    j["id"] = p.id;
    j["source"] = p.source;  // invalid UTF-8 shows as U+FFFD (ToLockfileJson)
    if (!webc::IsValidUtf8(p.source)) j["source_hex"] = HexOf(p.source);
    j["webc_sha256"] = p.webc_sha256;
    if (!p.header_sha256.empty()) {
      j["header_sha256"] = p.header_sha256;
      j["webc_size"] = p.webc_size;
    }
    Json deps = Json::array();
    for (const Edge& e : p.dependencies) {
      Json d = Json::object();
      d["alias"] = e.alias;
      d["requirement"] = e.requirement;
      d["package"] = r.packages[e.package].id;
      deps.push_back(std::move(d));
    }
    j["dependencies"] = std::move(deps);
    packages.push_back(std::move(j));
  }
  doc["packages"] = std::move(packages);
  Json mappings = Json::array();
  for (const Mapping& m : r.mappings) mappings.push_back(MappingJson(r, m));
  doc["mappings"] = std::move(mappings);
  Json commands = Json::array();
  for (const CommandEntry& c : r.commands) commands.push_back(CommandJson(r, c));
  doc["commands"] = std::move(commands);
  doc["entrypoint"] = r.entrypoint ? Json(*r.entrypoint) : Json();
  return doc;
}

// Typed access to untrusted JSON: errors name the key path.
Result<const Json*> Field(const Json& obj, const char* key, Json::value_t type,
                          const std::string& where) {
  if (!obj.is_object()) return Error::Corrupt(where + ": expected an object");
  auto it = obj.find(key);
  if (it == obj.end()) return Error::Corrupt(where + "." + key + ": missing");
  if (it->type() != type) {
    // nlohmann distinguishes unsigned from signed integers; both are numbers here.
    bool both_numbers = it->is_number_integer() && (type == Json::value_t::number_unsigned ||
                                                    type == Json::value_t::number_integer);
    if (!both_numbers) return Error::Corrupt(where + "." + key + ": wrong type");
  }
  return &*it;
}

Result<std::string> StringField(const Json& obj, const char* key, const std::string& where) {
  auto f = Field(obj, key, Json::value_t::string, where);
  if (!f) return std::move(f).error();
  return (*f)->get<std::string>();
}

// The lockfile as data, before anything is loaded.
struct LockedEdge {
  std::string alias, requirement, target;
};
struct LockedPackage {
  std::string id, source, sha256;
  std::string header_sha256;  // empty when not recorded
  uint64_t webc_size = 0;     // 0 when not recorded
  std::vector<LockedEdge> edges;
};
struct Locked {
  std::string root;
  std::vector<LockedPackage> packages;
  Json mappings, commands, entrypoint;
};

Result<std::string> SourceOf(const Json& package, const std::string& where) {
  auto source = StringField(package, "source", where);
  if (!source || !package.contains("source_hex")) return source;
  auto hex = StringField(package, "source_hex", where);
  if (!hex) return std::move(hex).error();
  auto bytes = BytesOfHex(*hex);
  if (!bytes) return Error::Corrupt(where + ".source_hex: not lowercase hex of whole bytes");
  return std::move(*bytes);
}

Result<Locked> Decode(const Json& doc) {
  Locked out;
  auto version = Field(doc, "webcfs_lockfile", Json::value_t::number_unsigned, "lockfile");
  if (!version) return std::move(version).error();
  if (**version != kLockfileVersion) {
    return Error::Unsupported("lockfile version " + (*version)->dump() + " (this webcfs reads " +
                              std::to_string(kLockfileVersion) + ")");
  }
  auto root = StringField(doc, "root", "lockfile");
  if (!root) return std::move(root).error();
  out.root = *root;
  auto packages = Field(doc, "packages", Json::value_t::array, "lockfile");
  if (!packages) return std::move(packages).error();
  for (size_t i = 0; i < (*packages)->size(); ++i) {
    const Json& p = (**packages)[i];
    std::string where = "packages[" + std::to_string(i) + "]";
    LockedPackage lp;
    auto id = StringField(p, "id", where);
    if (!id) return std::move(id).error();
    auto source = SourceOf(p, where);
    if (!source) return std::move(source).error();
    auto sha = StringField(p, "webc_sha256", where);
    if (!sha) return std::move(sha).error();
    auto hex = ParseSha256Hex(*sha);
    if (!hex) return std::move(hex).error().With(where + ".webc_sha256");
    lp.id = *id;
    lp.source = *source;
    lp.sha256 = *hex;
    if (p.contains("header_sha256")) {
      auto header = StringField(p, "header_sha256", where);
      if (!header) return std::move(header).error();
      auto header_hex = ParseSha256Hex(*header);
      if (!header_hex) return std::move(header_hex).error().With(where + ".header_sha256");
      lp.header_sha256 = *header_hex;
    }
    if (p.contains("webc_size")) {
      const Json& size = p["webc_size"];
      if (!size.is_number_unsigned() || size.get<uint64_t>() == 0) {
        return Error::Corrupt(where + ".webc_size: not a positive integer");
      }
      lp.webc_size = size.get<uint64_t>();
    }
    auto deps = Field(p, "dependencies", Json::value_t::array, where);
    if (!deps) return std::move(deps).error();
    for (size_t k = 0; k < (*deps)->size(); ++k) {
      const Json& d = (**deps)[k];
      std::string dw = where + ".dependencies[" + std::to_string(k) + "]";
      auto alias = StringField(d, "alias", dw);
      if (!alias) return std::move(alias).error();
      auto req = StringField(d, "requirement", dw);
      if (!req) return std::move(req).error();
      auto target = StringField(d, "package", dw);
      if (!target) return std::move(target).error();
      lp.edges.push_back(LockedEdge{*alias, *req, *target});
    }
    out.packages.push_back(std::move(lp));
  }
  auto mappings = Field(doc, "mappings", Json::value_t::array, "lockfile");
  if (!mappings) return std::move(mappings).error();
  out.mappings = **mappings;
  auto commands = Field(doc, "commands", Json::value_t::array, "lockfile");
  if (!commands) return std::move(commands).error();
  out.commands = **commands;
  if (!doc.contains("entrypoint")) return Error::Corrupt("lockfile.entrypoint: missing");
  out.entrypoint = doc["entrypoint"];
  if (!out.entrypoint.is_null() && !out.entrypoint.is_string()) {
    return Error::Corrupt("lockfile.entrypoint: wrong type");
  }
  return out;
}

// Locates and verifies one locked package: its source file, else the cache,
// else (a URL source) a download into the cache.
Result<LoadedPackage> LoadLocked(const LockedPackage& p, const LoadContext& context) {
  if (IsHttpUrl(p.source)) {
    return LoadRemote(p.id, p.source, p.sha256, p.webc_size, context, p.header_sha256);
  }
  if (IsOciRegistry(p.source)) {
    // The cache first: a pinned package costs no request once it is there.
    auto cached = LoadCached(p.sha256, context);
    if (cached || cached.error().code() != Error::Code::kNotFound || context.http == nullptr) {
      if (!cached) return std::move(cached).error().With(p.id + " (" + p.source + ")");
      cached->source = p.source;
      return cached;
    }
    auto url = OciPinnedBlobUrl(p.source, p.sha256, *context.http);
    if (!url) return std::move(url).error().With(p.id);
    auto loaded = LoadRemote(p.id, *url, p.sha256, p.webc_size, context, p.header_sha256);
    if (loaded) loaded->source = p.source;
    return loaded;
  }
  std::error_code ec;
  if (std::filesystem::exists(p.source, ec)) {
    auto loaded = LoadPackage(p.source, context);
    if (!loaded) return std::move(loaded).error().With(p.id);
    if (loaded->sha256_hex != p.sha256) {
      return Error::Integrity(p.id + ": sha256 mismatch for " + p.source + ": expected " +
                              p.sha256 + ", actual " + loaded->sha256_hex);
    }
    loaded->source = p.source;
    return loaded;
  }
  auto cached = LoadCached(p.sha256, context);
  if (!cached) {
    if (cached.error().code() == Error::Code::kNotFound) {
      return Error::NotFound(p.id + ": " + p.source + " is missing and the cache has no " +
                             p.sha256);
    }
    return std::move(cached).error().With(p.id);
  }
  cached->source = p.source;  // the lockfile keeps naming where it came from
  return cached;
}

// The package's id must be what its container says it is.
Result<void> CheckId(const LockedPackage& p, const LoadedPackage& loaded) {
  const webc::Manifest& m = loaded.container->manifest();
  if (p.id.starts_with("sha256:")) {
    if (p.id != HashId(loaded.sha256_hex)) {
      return Error::Integrity(p.id + ": the container's sha256 is " + loaded.sha256_hex);
    }
    return Ok();
  }
  size_t at = p.id.rfind('@');
  if (at == std::string::npos) return Error::Corrupt(p.id + ": not a package id");
  WEBCFS_RETURN_IF_ERROR(ValidatePackageName(p.id.substr(0, at)));
  auto v = Version::Parse(p.id.substr(at + 1));
  if (!v) return std::move(v).error().With(p.id);
  if (m.package_name && m.package_version &&
      (*m.package_name != p.id.substr(0, at) || *m.package_version != p.id.substr(at + 1))) {
    return Error::Integrity(p.id + ": the container's manifest says " + *m.package_name + "@" +
                            *m.package_version);
  }
  return Ok();
}

// Each node's edges must be exactly its manifest's `use` entries, and each
// target must satisfy the requirement it was chosen for.
Result<void> CheckEdges(const Graph& graph, size_t node,
                        const std::function<const LoadedPackage&(size_t)>& loaded) {
  const GraphNode& n = graph.nodes[node];
  const auto& uses = loaded(node).container->manifest().uses;
  if (uses.size() != n.edges.size()) {
    return Error::Corrupt(n.package.id + ": the lockfile lists " + std::to_string(n.edges.size()) +
                          " dependencies, the manifest " + std::to_string(uses.size()));
  }
  for (size_t i = 0; i < uses.size(); ++i) {
    const GraphEdge& e = n.edges[i];
    auto target = ParseUse(uses[i]);
    if (!target) return std::move(target).error().With(n.package.id + ": dependency " + e.alias);
    if (uses[i].alias != e.alias || target->requirement_text != e.requirement) {
      return Error::Corrupt(n.package.id + ": dependency " + std::to_string(i) + " is '" +
                            uses[i].alias + "' (" + target->requirement_text +
                            ") in the manifest but '" + e.alias + "' (" + e.requirement +
                            ") in the lockfile");
    }
    const Candidate& to = graph.nodes[e.target].package;
    bool ok = target->kind == UseTarget::Kind::kHash
                  ? loaded(e.target).sha256_hex == target->sha256_hex
                  : to.full_name == target->full_name && to.version &&
                        target->requirement.Matches(*to.version);
    if (!ok) {
      return Error::Corrupt(n.package.id + ": dependency '" + e.alias + "' (" + e.requirement +
                            ") is not satisfied by " + to.id);
    }
  }
  return Ok();
}

Candidate CandidateFor(const std::string& id, size_t handle) {
  Candidate c;
  c.id = id;
  c.handle = handle;
  if (!id.starts_with("sha256:")) {
    size_t at = id.rfind('@');
    c.full_name = id.substr(0, at);
    if (auto v = Version::Parse(id.substr(at + 1))) c.version = std::move(*v);
  }
  return c;
}

}  // namespace

std::string Resolution::ToLockfileJson() const {
  // Manifest strings (volume names, mount paths, aliases) are bytes from the
  // package, not necessarily UTF-8; nlohmann's default handler would throw on
  // them (and the control directory's resolution.json would take the daemon
  // down). Invalid bytes become U+FFFD: such a lockfile shows what was mounted
  // but does not load again ("mappings differ").
  return ToJson(*this).dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

Result<Resolution> ParseLockfile(const std::string& text, const std::string& name,
                                 const ResolveOptions& options) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    return Error::Corrupt(name + ": not JSON: " + e.what());
  }
  auto locked = Decode(doc);
  if (!locked) return std::move(locked).error().With(name);
  if (locked->packages.empty() || locked->packages[0].id != locked->root) {
    return Error::Corrupt(name + ": the first package must be the root");
  }

  Graph graph;
  std::map<std::string, size_t> index_of;
  for (const LockedPackage& p : locked->packages) {
    if (!index_of.emplace(p.id, graph.nodes.size()).second) {
      return Error::Corrupt(name + ": package " + p.id + " is listed twice");
    }
    graph.nodes.push_back(GraphNode{CandidateFor(p.id, graph.nodes.size()), {}});
  }
  for (size_t i = 0; i < locked->packages.size(); ++i) {
    for (const LockedEdge& e : locked->packages[i].edges) {
      auto it = index_of.find(e.target);
      if (it == index_of.end()) {
        return Error::Corrupt(name + ": " + locked->packages[i].id + ": dependency '" + e.alias +
                              "' names " + e.target + ", which is not listed");
      }
      graph.nodes[i].edges.push_back(GraphEdge{e.alias, e.requirement, it->second});
    }
  }

  Warnings warnings(options);
  auto cache = OpenCacheFor(options, warnings);
  if (!cache) return std::move(cache).error();
  std::vector<std::string> sources;
  for (const LockedPackage& p : locked->packages) sources.push_back(p.source);
  // Creating the client sends nothing: packages found in the cache cost no request.
  auto http = HttpClientFor(options, sources);
  if (!http) return std::move(http).error();
  LoadContext context{cache->get(), OpenOptionsFor(options), *http, options.lazy && !options.verify,
                      options.prefetch};
  std::vector<LoadedPackage> loaded(locked->packages.size());
  const unsigned workers =
      *http ? std::max(options.load_workers, kParallelDownloads) : options.load_workers;
  WEBCFS_RETURN_IF_ERROR(ParallelFor(loaded.size(), workers, [&](size_t i) -> Result<void> {
    auto p = LoadLocked(locked->packages[i], context);
    if (!p) return std::move(p).error().With(name);
    auto same = CheckId(locked->packages[i], *p);
    if (!same) return std::move(same).error().With(name);
    loaded[i] = std::move(*p);
    return Ok();
  }));
  auto loaded_of = [&](size_t node) -> const LoadedPackage& { return loaded[node]; };
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    auto edges = CheckEdges(graph, i, loaded_of);
    if (!edges) return std::move(edges).error().With(name);
  }
  std::vector<size_t> order = PrecedenceOrder(graph);
  for (size_t k = 0; k < order.size(); ++k) {
    if (order[k] != k) {
      return Error::Corrupt(name +
                            ": packages are not in precedence order (or not all reachable "
                            "from the root)");
    }
  }
  // Also rejects cycles: a cyclic graph has no order with every edge forward.
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const GraphEdge& e : graph.nodes[i].edges) {
      if (e.target <= i) {
        return Error::Corrupt(name + ": dependency cycle through " + graph.nodes[i].package.id);
      }
    }
  }

  auto r = Assemble(graph, loaded_of);
  if (!r) return std::move(r).error().With(name);
  for (size_t i = 0; i < r->packages.size(); ++i) {
    const std::string& recorded = locked->packages[i].header_sha256;
    if (!recorded.empty() && recorded != r->packages[i].header_sha256) {
      return Error::Integrity(name + ": " + r->packages[i].id +
                              ": header digest mismatch: expected " + recorded + ", actual " +
                              (r->packages[i].header_sha256.empty()
                                   ? std::string("none")
                                   : r->packages[i].header_sha256));
    }
    const uint64_t size = locked->packages[i].webc_size;
    if (size != 0 && size != r->packages[i].webc_size) {
      return Error::Integrity(name + ": " + r->packages[i].id + ": size mismatch: expected " +
                              std::to_string(size) + " bytes, the container has " +
                              std::to_string(r->packages[i].webc_size));
    }
  }
  // The mappings and commands follow from the verified packages; a lockfile
  // that records others was edited or written by a different webcfs.
  Json recomputed = ToJson(*r);
  for (const char* key : {"mappings", "commands", "entrypoint"}) {
    const Json& recorded = std::string(key) == "mappings"   ? locked->mappings
                           : std::string(key) == "commands" ? locked->commands
                                                            : locked->entrypoint;
    if (recorded != recomputed[key]) {
      return Error::Corrupt(name + ": " + key +
                            " differ from what the locked packages declare (edited lockfile, or "
                            "written by another webcfs version)");
    }
  }
  EvictOverLimit(cache->get(), options, warnings);
  for (std::string& w : r->warnings) warnings.Add(std::move(w));
  r->warnings = warnings.Take();
  return std::move(*r);
}

Result<Resolution> LoadLockfile(const std::string& path, const ResolveOptions& options) {
  auto text = webc::ReadRegularFile(path, kMaxLockfileBytes);
  if (!text) return std::move(text).error();
  return ParseLockfile(*text, path, options);
}

}  // namespace webcfs::resolver
