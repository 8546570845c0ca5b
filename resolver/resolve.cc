// Resolve(): specifier → registries → graph → loaded packages → Resolution.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "resolver/answers.h"
#include "resolver/assemble.h"
#include "resolver/http.h"
#include "resolver/oci.h"
#include "resolver/quote.h"
#include "resolver/registry.h"
#include "resolver/resolve_internal.h"
#include "resolver/specifier.h"
#include "resolver/wasmer_api.h"

namespace webcfs::resolver {
namespace {

// Failures of the machine rather than of a package file (writing the cache,
// resource limits): retrying with another file cannot help.
bool IsEnvironmentFailure(const Error& e) {
  switch (e.sys_errno()) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

// The graph's view of the registries, the cache and the root file. Packages
// are loaded (imported into the cache and opened) when the graph first needs
// their manifest, a breadth-first level at a time, in parallel.
class RegistrySource final : public PackageSource {
 public:
  RegistrySource(std::vector<std::string> registries, std::shared_ptr<const RegistryIndex> index,
                 LoadContext context, const AnswerCache* answers, unsigned workers,
                 Warnings& warnings)
      : registries_(std::move(registries)),
        index_(std::move(index)),
        context_(context),
        workers_(workers),
        warnings_(warnings) {
    for (const std::string& r : registries_) {
      if (std::string url = WasmerRegistryUrl(r); !url.empty()) {
        wasmer_.push_back(std::make_unique<WasmerRegistry>(r, url, context_.http.get(), answers));
      } else if (IsOciRegistry(r)) {
        oci_.push_back(std::make_unique<OciRegistry>(r, context_.http.get()));
      }
    }
  }

  // Registers a package loaded outside the registries (the root file).
  Candidate AddLoaded(LoadedPackage loaded) {
    const webc::Manifest& m = loaded.container->manifest();
    Candidate c;
    if (m.package_name && m.package_version && ValidatePackageName(*m.package_name).ok()) {
      if (auto v = Version::Parse(*m.package_version)) {
        c.full_name = *m.package_name;
        c.version = std::move(*v);
      }
    }
    c.id = c.full_name.empty() ? HashId(loaded.sha256_hex) : NamedId(c.full_name, *c.version);
    c.handle = slots_.size();
    slots_.push_back(Slot{loaded.source, nullptr, std::move(loaded)});
    return c;
  }

  void Prefetch(std::span<const std::string> full_names) override {
    for (auto& wasmer : wasmer_) wasmer->Prefetch(full_names);
  }

  // The registries in order; an id an earlier one provides wins.
  Result<std::vector<Candidate>> Versions(std::string_view full_name) override {
    std::vector<Candidate> out;
    std::set<std::string, std::less<>> seen;
    const std::vector<const RegistryEntry*> listed = index_->Versions(full_name);
    size_t next_wasmer = 0;
    size_t next_oci = 0;
    for (const std::string& r : registries_) {
      if (IsOciRegistry(r)) {
        auto answer = oci_[next_oci++]->Versions(full_name);
        if (!answer) return std::move(answer).error();
        for (const RegistryEntry& e : **answer) {
          if (seen.insert(e.id).second) out.push_back(ForEntry(e));
        }
        continue;
      }
      if (!WasmerRegistryUrl(r).empty()) {
        auto answer = wasmer_[next_wasmer++]->Versions(full_name);
        if (!answer) return std::move(answer).error();
        for (const RegistryEntry& e : **answer) {
          if (seen.insert(e.id).second) out.push_back(ForEntry(e));
        }
        continue;
      }
      for (const RegistryEntry* e : listed) {
        if (e->registry == r && !bad_.count(e->source()) && seen.insert(e->id).second) {
          out.push_back(ForEntry(*e));
        }
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
      return a.version && b.version && *a.version > *b.version;
    });
    return out;
  }

  Result<Candidate> ByHash(std::string_view hex) override {
    if (const RegistryEntry* e = index_->FindHash(hex); e != nullptr && !bad_.count(e->source())) {
      return ForEntry(*e);
    }
    // Any package this machine imported before is in the cache under its hash.
    auto cached = LoadCached(std::string(hex), context_);
    if (!cached && cached.error().code() == Error::Code::kNotFound) {
      for (auto& registry : wasmer_) {
        auto release = registry->ByHash(hex);
        if (!release) return std::move(release).error();
        if (*release != nullptr) return ForEntry(**release);
      }
      return Error::NotFound("no package with sha256 " + std::string(hex) +
                             " in the registries or the cache");
    }
    if (!cached) return std::move(cached).error();
    if (auto it = from_cache_.find(std::string(hex)); it != from_cache_.end()) return it->second;
    Candidate c = AddLoaded(std::move(*cached));
    from_cache_.emplace(std::string(hex), c);
    return c;
  }

  // Remote packages whose `use` entries the registry listed are downloaded
  // later, all at once (Fetch).
  Result<void> Load(std::span<const Candidate> batch) override {
    return LoadSlots(batch, /*defer_remote=*/true);
  }

  // Downloads and opens every package of the graph not loaded yet, in
  // parallel; each must declare the `use` entries its registry listed.
  Result<void> Fetch(const Graph& graph) {
    std::vector<Candidate> all;
    for (const GraphNode& n : graph.nodes) all.push_back(n.package);
    WEBCFS_RETURN_IF_ERROR(LoadSlots(all, /*defer_remote=*/false));
    for (const Candidate& c : all) {
      const Slot& s = slots_[c.handle];
      if (s.entry != nullptr && s.entry->uses)
        WEBCFS_RETURN_IF_ERROR(CheckUses(*s.entry, *s.loaded));
    }
    return Ok();
  }

  const std::vector<webc::Dependency>& Uses(const Candidate& c) override {
    const Slot& s = slots_[c.handle];
    if (s.loaded) return s.loaded->container->manifest().uses;
    return *s.entry->uses;
  }

 private:
  static bool Deferred(const RegistryEntry* e) {
    return e != nullptr && !e->url.empty() && e->uses.has_value();
  }

  Result<void> LoadSlots(std::span<const Candidate> batch, bool defer_remote) {
    std::vector<size_t> todo;
    for (const Candidate& c : batch) {
      Slot& s = slots_[c.handle];
      if (defer_remote && Deferred(s.entry)) continue;
      if (!s.loaded && std::find(todo.begin(), todo.end(), c.handle) == todo.end()) {
        todo.push_back(c.handle);
      }
    }
    std::vector<std::optional<LoadedPackage>> results(todo.size());
    std::vector<std::optional<Error>> errors(todo.size());
    // Threads for downloads only when one is coming: a thread costs more
    // than opening a cached package.
    const bool downloads = std::any_of(todo.begin(), todo.end(), [&](size_t handle) {
      const RegistryEntry* e = slots_[handle].entry;
      return e != nullptr && !e->url.empty() &&
             (context_.cache == nullptr || !context_.cache->Has(e->sha256_hex));
    });
    const unsigned workers = downloads ? std::max(workers_, kParallelDownloads) : workers_;
    auto loaded = ParallelFor(todo.size(), workers, [&](size_t i) -> Result<void> {
      const Slot& s = slots_[todo[i]];
      auto p = s.entry != nullptr && !s.entry->url.empty()
                   ? LoadRemote(s.entry->id, s.entry->url, s.entry->sha256_hex, s.entry->size,
                                context_, s.entry->header_sha256_hex)
                   : LoadPackage(s.path, context_);
      if (p && s.entry != nullptr) {
        if (auto same = CheckIdentity(*s.entry, *p); !same) p = std::move(same).error();
      }
      if (p && s.entry != nullptr && !s.entry->pin.empty()) p->source = s.entry->pin;
      if (!p) {
        // A download names the package and the URL; the registry too.
        if (s.entry != nullptr && !s.entry->url.empty()) {
          p = std::move(p).error().With("registry " + s.entry->registry);
        }
        errors[i] = p.error();
        return std::move(p).error();
      }
      results[i] = std::move(*p);
      return Ok();
    });
    for (size_t i = 0; i < todo.size(); ++i) {
      Slot& s = slots_[todo[i]];
      // Keep what loaded even on failure: a retry must not load it again.
      if (results[i]) s.loaded = std::move(results[i]);
      // A registry file that is not what its index entry says is skipped like
      // any other unreadable file; Resolve() then tries again without it. A
      // full or read-only cache, or no descriptors left, is not the file's
      // fault: skipping would quietly serve an older version, so it fails;
      // so does a download, whose failure says nothing about older versions.
      if (errors[i] && s.entry != nullptr && s.entry->url.empty() &&
          !IsEnvironmentFailure(*errors[i]) && bad_.insert(s.path).second) {
        warnings_.Add(SkipWarning(s.path, errors[i]->message()));
        retry_ = true;
      }
    }
    return loaded;
  }

 public:
  const LoadedPackage& Loaded(size_t handle) const { return *slots_[handle].loaded; }

  // True once after a Load failure that excluded a registry file.
  bool TakeRetry() { return std::exchange(retry_, false); }

 private:
  // The graph was built from the `use` entries the registry listed: the
  // container must declare exactly those.
  static Result<void> CheckUses(const RegistryEntry& e, const LoadedPackage& p) {
    const auto& listed = *e.uses;
    const auto& actual = p.container->manifest().uses;
    bool same = listed.size() == actual.size();
    for (size_t i = 0; same && i < listed.size(); ++i) {
      same = listed[i].alias == actual[i].alias && listed[i].specifier == actual[i].specifier &&
             actual[i].embedded == nullptr;
    }
    if (!same) {
      return Error::Corrupt(e.id + ": " + e.source() + ": registry " + e.registry +
                            " lists other dependencies than the container's manifest declares");
    }
    return Ok();
  }

  struct Slot {
    std::string path;
    const RegistryEntry* entry;  // nullptr for packages not from the index
    std::optional<LoadedPackage> loaded;
  };

  Candidate ForEntry(const RegistryEntry& e) {
    auto it = by_path_.find(e.source());
    size_t handle;
    if (it != by_path_.end()) {
      handle = it->second;
    } else {
      handle = slots_.size();
      slots_.push_back(Slot{e.path, &e, std::nullopt});
      by_path_.emplace(e.source(), handle);
    }
    return Candidate{e.id, e.full_name, e.version, handle};
  }

  // The container must be the package its index entry promised.
  static Result<void> CheckIdentity(const RegistryEntry& e, const LoadedPackage& p) {
    if (!e.sha256_hex.empty() && p.sha256_hex != e.sha256_hex) {
      return Error::Integrity(e.source() + ": " + e.id + ": sha256 mismatch: expected " +
                              e.sha256_hex + ", actual " + p.sha256_hex);
    }
    if (e.full_name.empty()) return Ok();
    const webc::Manifest& m = p.container->manifest();
    if (!m.package_name || !m.package_version) return Ok();  // named by the registry only
    auto v = Version::Parse(*m.package_version);
    if (*m.package_name != e.full_name || !v || !(*v == *e.version) ||
        v->build != e.version->build) {
      return Error::Corrupt(e.source() + ": " + (e.from_file_name ? "file name" : "index") +
                            " says " + e.id + " but the manifest says " + *m.package_name + "@" +
                            *m.package_version);
    }
    return Ok();
  }

  std::vector<std::string> registries_;
  std::shared_ptr<const RegistryIndex> index_;
  std::vector<std::unique_ptr<WasmerRegistry>> wasmer_;  // in registry order
  std::vector<std::unique_ptr<OciRegistry>> oci_;        // in registry order
  LoadContext context_;
  unsigned workers_;
  Warnings& warnings_;
  std::deque<Slot> slots_;
  std::map<std::string, size_t> by_path_;
  std::map<std::string, Candidate> from_cache_;  // sha256 → package found only in the cache
  std::set<std::string> bad_;
  bool retry_ = false;
};

Result<Candidate> ChooseRoot(const Specifier& spec, RegistrySource& packages,
                             const LoadContext& context, const ResolveOptions& options) {
  switch (spec.kind) {
    case Specifier::Kind::kUrl:
      return Error::Unsupported(spec.text + ": remote sources are not supported yet");
    case Specifier::Kind::kPath: {
      auto loaded = LoadPackage(spec.path, context);
      if (!loaded) return std::move(loaded).error();
      return packages.AddLoaded(std::move(*loaded));
    }
    case Specifier::Kind::kHash:
      return packages.ByHash(spec.sha256_hex);
    case Specifier::Kind::kRegistry: {
      if (!spec.registry.empty()) {
        return Error::Unsupported(spec.text + ": registry " + Quote(spec.registry) +
                                  " is not available (only directory registries are)");
      }
      auto listed = packages.Versions(spec.full_name);
      if (!listed) return std::move(listed).error().With(spec.text);
      const std::vector<Candidate>& versions = *listed;
      for (const Candidate& c : versions) {
        if (spec.requirement.Matches(*c.version)) return c;
      }
      std::string where = options.registries.empty()
                              ? std::string("no --registry given")
                              : "searched " + std::to_string(options.registries.size()) +
                                    (options.registries.size() == 1 ? " registry" : " registries");
      if (versions.empty()) {
        return Error::NotFound(spec.text + ": no package " + spec.full_name + " (" + where + ")");
      }
      std::string available;
      for (const Candidate& c : versions) {
        available += (available.empty() ? "" : ", ") + c.version->ToString();
      }
      return Error::NotFound(spec.text + ": no version of " + spec.full_name + " matches " +
                             spec.requirement.text() + " (available: " + available + ")");
    }
  }
  return Error::InvalidArgument("unknown specifier kind");
}

// Any existing non-directory: a FIFO or device too, so that loading it refuses
// it as "not a regular file" rather than it being looked up as a package name.
bool IsExistingFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

}  // namespace

webc::OpenOptions OpenOptionsFor(const ResolveOptions& options) {
  webc::OpenOptions o;
  o.verify = options.verify;
  o.max_decompressed_size = options.max_decompressed_size;
  return o;
}

Result<std::shared_ptr<HttpClient>> HttpClientFor(const ResolveOptions& options,
                                                  const std::vector<std::string>& sources) {
  std::vector<std::string> token_urls;
  bool remote = false;
  bool oci = false;
  for (const std::string& s : sources) {
    oci = oci || IsOciRegistry(s);
    std::string url = WasmerRegistryUrl(s);
    if (url.empty() && IsHttpUrl(s)) url = s;
    if (!url.empty()) token_urls.push_back(url);
    // OCI registries get no token: it is Wasmer's.
    remote = remote || !url.empty() || IsOciRegistry(s);
  }
  if (!remote || options.offline) return std::shared_ptr<HttpClient>();
  HttpOptions http;
  http.user_agent = "webcfs";
  http.bearer_token = options.registry_token;
  http.token_urls = std::move(token_urls);
  http.registry_auth = oci;
  http.low_speed_time = std::chrono::milliseconds(options.http_timeout_ms);
  http.connect_timeout = std::min(http.connect_timeout, http.low_speed_time);
  http.max_retries = options.http_retries;
  auto client = HttpClient::Create(std::move(http));
  if (!client) return std::move(client).error();
  return std::shared_ptr<HttpClient>(std::move(*client));
}

Result<std::unique_ptr<ContentCache>> OpenCacheFor(const ResolveOptions& options,
                                                   Warnings& warnings) {
  if (!options.use_cache) return std::unique_ptr<ContentCache>();
  if (!options.cache_dir.empty()) {
    auto cache = ContentCache::Open(options.cache_dir, options.verify);
    if (!cache) return std::move(cache).error();
    return std::move(*cache);
  }
  std::string dir = DefaultCacheDir();
  if (dir.empty()) {
    warnings.Add(
        "no cache directory (set XDG_CACHE_HOME or HOME, or pass --cache); "
        "reading packages in place");
    return std::unique_ptr<ContentCache>();
  }
  auto cache = ContentCache::Open(dir, options.verify);
  if (!cache) {
    warnings.Add(cache.error().message() + "; reading packages in place");
    return std::unique_ptr<ContentCache>();
  }
  return std::move(*cache);
}

void EvictOverLimit(const ContentCache* cache, const ResolveOptions& options, Warnings& warnings) {
  if (cache == nullptr || options.cache_max_bytes == 0) return;
  auto evicted = cache->Evict(options.cache_max_bytes);
  if (!evicted) {
    warnings.Add("cache " + cache->dir() + ": eviction failed: " + evicted.error().message());
  } else if (evicted->bytes_after > options.cache_max_bytes) {
    warnings.Add("cache " + cache->dir() + ": " + std::to_string(evicted->bytes_after) +
                 " bytes, over cache_max_bytes (" + std::to_string(options.cache_max_bytes) +
                 "): the rest is in use by mounts");
  }
}

Result<std::string> HeaderDigestHex(const webc::Container& container) {
  auto header = container.HeaderDigest();
  if (!header) return std::move(header).error();
  return *header ? webc::ToHex(**header) : std::string();
}

Result<Resolution> Assemble(const Graph& graph,
                            const std::function<const LoadedPackage&(size_t)>& loaded) {
  Resolution r;
  std::vector<size_t> order = PrecedenceOrder(graph);
  std::vector<size_t> position(graph.nodes.size());
  for (size_t k = 0; k < order.size(); ++k) position[order[k]] = k;
  for (size_t node : order) {
    const GraphNode& n = graph.nodes[node];
    const LoadedPackage& p = loaded(node);
    ResolvedPackage rp;
    rp.id = n.package.id;
    rp.source = p.source;
    rp.webc_sha256 = p.sha256_hex;
    auto header = HeaderDigestHex(*p.container);
    if (!header) return std::move(header).error().With(rp.id);
    rp.header_sha256 = std::move(*header);
    if (!rp.header_sha256.empty()) rp.webc_size = p.container->source().size();
    rp.container = p.container;
    rp.container_path = p.container_path;
    for (const GraphEdge& e : n.edges) {
      rp.dependencies.push_back(Edge{e.alias, e.requirement, position[e.target]});
    }
    r.packages.push_back(std::move(rp));
  }
  WEBCFS_RETURN_IF_ERROR(AssembleMappings(r));
  AssembleCommands(r);
  return r;
}

Result<RegistryAccess> OpenRegistryAccess(const ResolveOptions& options, Warnings& warnings) {
  RegistryAccess access;
  auto cache = OpenCacheFor(options, warnings);
  if (!cache) return std::move(cache).error();
  access.cache = std::move(*cache);
  auto http = HttpClientFor(options, options.registries);
  if (!http) return std::move(http).error();
  access.http = std::move(*http);
  if (access.cache) {
    access.answers.emplace(access.cache->dir(), std::chrono::seconds(options.answer_ttl_seconds),
                           options.offline);
  }
  return access;
}

Result<Resolution> Resolve(const std::string& spec_text, const ResolveOptions& options) {
  if (spec_text.ends_with(".json")) return LoadLockfile(spec_text, options);
  auto spec = ParseSpecifier(spec_text);
  // Like Wasmer, an existing file counts as a path even without "./".
  if ((!spec || spec->kind == Specifier::Kind::kRegistry) && IsExistingFile(spec_text)) {
    spec = ParseSpecifier("./" + spec_text);
  }
  if (!spec) return std::move(spec).error();

  Warnings warnings(options);
  auto access = OpenRegistryAccess(options, warnings);
  if (!access) return std::move(access).error();
  const AnswerCache* stored = access->stored();
  auto index = RegistryIndex::Open(options.registries, options.max_decompressed_size,
                                   access->http.get(), stored);
  if (!index) return std::move(index).error();
  for (const std::string& w : (*index)->warnings()) warnings.Add(w);

  LoadContext context{access->cache.get(), OpenOptionsFor(options), access->http,
                      options.lazy && !options.verify, options.prefetch};
  RegistrySource packages(options.registries, *index, context, stored, options.load_workers,
                          warnings);
  while (true) {
    auto root = ChooseRoot(*spec, packages, context, options);
    if (!root) return std::move(root).error();
    auto graph = BuildGraph(*root, packages);
    if (!graph) {
      if (packages.TakeRetry()) continue;  // a bad registry file was excluded
      return std::move(graph).error();
    }
    if (auto fetched = packages.Fetch(*graph); !fetched) return std::move(fetched).error();
    auto r = Assemble(*graph, [&](size_t node) -> const LoadedPackage& {
      return packages.Loaded(graph->nodes[node].package.handle);
    });
    if (!r) return std::move(r).error();
    EvictOverLimit(access->cache.get(), options, warnings);
    for (std::string& w : r->warnings) warnings.Add(std::move(w));
    r->warnings = warnings.Take();
    return std::move(*r);
  }
}

}  // namespace webcfs::resolver
