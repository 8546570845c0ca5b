#include "resolver/oci.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <vector>

#include "resolver/http.h"
#include "resolver/loader.h"
#include "resolver/specifier.h"
#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

using Json = nlohmann::json;

// Tag lists and manifests are small; larger answers are refused.
constexpr uint64_t kMaxOciAnswerBytes = uint64_t{16} << 20;
// Blobs up to this size are uploaded in one PUT; larger files in PATCHes of
// kUploadChunkBytes, so no request carries more than that.
constexpr uint64_t kMonolithicUploadBytes = uint64_t{64} << 20;
constexpr uint64_t kUploadChunkBytes = uint64_t{16} << 20;
// The digest of the empty config `{}`.
constexpr std::string_view kEmptyConfig = "{}";

constexpr const char* kTitleAnnotation = "org.opencontainers.image.title";
constexpr const char* kUsesAnnotation = "org.webcfs.uses";
constexpr const char* kPackageAnnotation = "org.webcfs.package";
// The v3 header digest (docs/webc-format.md §5.4): lets a reader mount the
// layer before it has downloaded it.
constexpr const char* kHeaderAnnotation = "org.webcfs.header.sha256";

std::string Sha256HexOf(std::string_view bytes) { return webc::ToHex(webc::Sha256::Of(bytes)); }

std::string ManifestAccept() {
  return std::string("Accept: ") + kOciManifestType + ", " + kOciIndexType;
}

// A string member, or empty.
std::string StringAt(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// "sha256:<hex>" → hex, or an error naming `where`.
Result<std::string> DigestHex(const std::string& digest, const std::string& where) {
  if (!digest.starts_with("sha256:")) {
    return Error::Corrupt(where + ": digest '" + digest + "' is not sha256:<hex>");
  }
  auto hex = ParseSha256Hex(std::string_view(digest).substr(7));
  if (!hex) return std::move(hex).error().With(where);
  return hex;
}

// The manifest at `url` (a tag or a digest), checked against the digest the
// registry reports and against `digest` when asked by digest; its own digest
// in `*actual_digest` when not null.
Result<Json> GetManifest(HttpClient& http, const std::string& url, const std::string& digest,
                         std::string* actual_digest = nullptr) {
  HttpRequest req;
  req.url = url;
  req.headers = {ManifestAccept()};
  auto answer = http.Send(req, kMaxOciAnswerBytes);
  if (!answer) return std::move(answer).error();
  const std::string actual = "sha256:" + Sha256HexOf(answer->body);
  const std::string reported = answer->Header("docker-content-digest");
  for (const std::string& expected : {digest, reported}) {
    if (!expected.empty() && expected != actual) {
      return Error::Integrity("GET " + url + ": manifest digest mismatch: expected " + expected +
                              ", actual " + actual);
    }
  }
  Json doc = Json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Error::Corrupt("GET " + url + ": the manifest is not a JSON object");
  if (actual_digest != nullptr) *actual_digest = actual;
  return doc;
}

// The one webc layer of an image manifest, following an index to its first
// manifest that is a webc artifact (or its first manifest); `*digest` becomes
// the digest of the image manifest followed to.
Result<Json> WebcLayer(HttpClient& http, const std::string& repo_url, Json manifest,
                       const std::string& where, Json* annotations, std::string* digest) {
  if (StringAt(manifest, "mediaType") == kOciIndexType || manifest.contains("manifests")) {
    auto list = manifest.find("manifests");
    if (list == manifest.end() || !list->is_array() || list->empty()) {
      return Error::Corrupt(where + ": the index lists no manifests");
    }
    const Json* pick = &list->front();
    for (const Json& m : *list) {
      if (m.is_object() && StringAt(m, "artifactType") == kWebcMediaType) {
        pick = &m;
        break;
      }
    }
    *digest = pick->is_object() ? StringAt(*pick, "digest") : "";
    if (auto hex = DigestHex(*digest, where); !hex) return std::move(hex).error();
    auto inner = GetManifest(http, repo_url + "/manifests/" + *digest, *digest);
    if (!inner) return std::move(inner).error();
    manifest = std::move(*inner);
  }
  if (auto a = manifest.find("annotations"); a != manifest.end() && a->is_object()) {
    *annotations = *a;
  }
  auto layers = manifest.find("layers");
  if (layers == manifest.end() || !layers->is_array()) {
    return Error::Corrupt(where + ": the manifest has no layers");
  }
  std::optional<Json> found;
  for (const Json& layer : *layers) {
    if (!layer.is_object()) continue;
    std::string title;
    if (auto a = layer.find("annotations"); a != layer.end() && a->is_object()) {
      title = StringAt(*a, kTitleAnnotation);
    }
    if (StringAt(layer, "mediaType") == kWebcMediaType || title.ends_with(".webc")) {
      if (found) return Error::Corrupt(where + ": the manifest has more than one webc layer");
      found = layer;
    }
  }
  if (!found) return Error::Corrupt(where + ": the manifest has no webc layer");
  return std::move(*found);
}

// The `use` map of the annotation, in the annotation's order of keys.
Result<std::optional<std::vector<webc::Dependency>>> UsesAnnotation(const Json& annotations,
                                                                    const std::string& where) {
  const std::string text = StringAt(annotations, kUsesAnnotation);
  if (text.empty()) return std::optional<std::vector<webc::Dependency>>();
  auto doc = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return Error::Corrupt(where + ": annotation " + kUsesAnnotation + " is not a JSON object");
  }
  std::vector<webc::Dependency> uses;
  for (const auto& [alias, spec] : doc.items()) {
    if (!spec.is_string()) {
      return Error::Corrupt(where + ": annotation " + kUsesAnnotation + "." + alias +
                            ": expected a string");
    }
    uses.push_back(webc::Dependency{alias, spec.get<std::string>(), nullptr});
  }
  return std::optional<std::vector<webc::Dependency>>(std::move(uses));
}

// Semver from a tag ('_' stands for '+'); nullopt for other tags, and for
// tags that are not the one OciTag writes for their version.
std::optional<Version> TagVersion(const std::string& tag) {
  std::string text = tag;
  for (char& c : text) {
    if (c == '_') c = '+';
  }
  auto v = Version::Parse(text);
  if (!v || OciTag(*v) != tag) return std::nullopt;
  return std::move(*v);
}

// The URL of the next page from a `Link: <url>; rel="next"` header, or empty.
std::string NextPage(const std::string& url, const std::string& link) {
  const size_t open = link.find('<');
  const size_t close = link.find('>', open);
  if (open == std::string::npos || close == std::string::npos ||
      link.find("rel=\"next\"", close) == std::string::npos) {
    return "";
  }
  return ResolveUrl(url, link.substr(open + 1, close - open - 1));
}

// A registry that pages forever is cut off: at most this many pages per list.
constexpr size_t kMaxListPages = 10'000;

// The strings of the array `key` in the JSON object at `url` and in the pages
// its `Link: <...>; rel="next"` headers lead to.
Result<std::vector<std::string>> GetPagedList(HttpClient& http, std::string url, const char* key) {
  std::vector<std::string> out;
  for (size_t pages = 0; !url.empty(); ++pages) {
    if (pages == kMaxListPages) {
      return Error::ResourceLimit("GET " + url + ": more than " + std::to_string(kMaxListPages) +
                                  " pages");
    }
    HttpRequest req;
    req.url = url;
    auto answer = http.Send(req, kMaxOciAnswerBytes);
    if (!answer) return std::move(answer).error();
    Json doc = Json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) return Error::Corrupt("GET " + url + ": not a JSON object");
    if (auto list = doc.find(key); list != doc.end() && list->is_array()) {
      for (const Json& item : *list) {
        if (item.is_string()) out.push_back(item.get<std::string>());
      }
    }
    url = NextPage(url, answer->Header("link"));
  }
  return out;
}

}  // namespace

bool IsOciRegistry(std::string_view registry) {
  return registry.starts_with("oci://") || registry.starts_with("oci+http://");
}

Result<OciLocation> ParseOciRegistry(std::string_view registry) {
  std::string_view rest;
  OciLocation loc;
  if (registry.starts_with("oci://")) {
    rest = registry.substr(6);
    loc.base = "https://";
  } else if (registry.starts_with("oci+http://")) {
    rest = registry.substr(11);
    loc.base = "http://";
  } else {
    return Error::InvalidArgument("registry " + std::string(registry) +
                                  ": not an oci:// or oci+http:// URL");
  }
  const size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  if (host.empty()) {
    return Error::InvalidArgument("registry " + std::string(registry) + ": no host");
  }
  loc.base += std::string(host);
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (prefix.ends_with('/')) prefix.remove_suffix(1);
  loc.prefix = std::string(prefix);
  return loc;
}

std::string OciLocation::Repository(std::string_view full_name) const {
  return prefix.empty() ? std::string(full_name) : prefix + "/" + std::string(full_name);
}

std::string OciTag(const Version& version) {
  std::string tag = version.ToString();
  for (char& c : tag) {
    if (c == '+') c = '_';
  }
  return tag;
}

std::string OciPin(std::string_view registry, std::string_view repository,
                   std::string_view manifest_digest) {
  const size_t scheme = registry.find("://") + 3;
  const std::string_view host = registry.substr(scheme, registry.find('/', scheme) - scheme);
  return std::string(registry.substr(0, scheme)) + std::string(host) + "/" +
         std::string(repository) + "@" + std::string(manifest_digest);
}

Result<std::string> OciPinnedBlobUrl(const std::string& pin, const std::string& sha256_hex,
                                     HttpClient& http) {
  const size_t at = pin.rfind('@');
  if (at == std::string::npos) {
    return Error::Corrupt(pin + ": not oci://HOST/REPOSITORY@sha256:<manifest digest>");
  }
  const std::string digest = pin.substr(at + 1);
  WEBCFS_RETURN_IF_ERROR(DigestHex(digest, pin));
  auto loc = ParseOciRegistry(pin.substr(0, at));
  if (!loc) return std::move(loc).error();
  const std::string repo_url = loc->base + "/v2/" + loc->prefix;
  auto manifest = GetManifest(http, repo_url + "/manifests/" + digest, digest);
  if (!manifest) return std::move(manifest).error();
  Json annotations;
  std::string followed = digest;
  auto layer = WebcLayer(http, repo_url, std::move(*manifest), pin, &annotations, &followed);
  if (!layer) return std::move(layer).error();
  const std::string layer_digest = StringAt(*layer, "digest");
  if (layer_digest != "sha256:" + sha256_hex) {
    return Error::Integrity(pin + ": the manifest's webc layer is " + layer_digest +
                            ", the lockfile says sha256:" + sha256_hex);
  }
  return repo_url + "/blobs/" + layer_digest;
}

Result<const std::vector<RegistryEntry>*> OciRegistry::Versions(std::string_view full_name) {
  if (auto it = answers_.find(full_name); it != answers_.end()) return &it->second;
  const std::string where = "registry " + registry_ + ": " + std::string(full_name);
  if (http_ == nullptr) return Error::NotFound(where + ": offline");
  auto loc = ParseOciRegistry(registry_);
  if (!loc) return std::move(loc).error();
  const std::string repo_url = loc->base + "/v2/" + loc->Repository(full_name);
  auto listed = GetPagedList(*http_, repo_url + "/tags/list", "tags");
  // An unknown repository has no versions.
  if (!listed && listed.error().code() != Error::Code::kNotFound) {
    return std::move(listed).error().With(where);
  }
  const std::vector<std::string> tags = listed ? std::move(*listed) : std::vector<std::string>();
  std::vector<RegistryEntry> entries;
  for (const std::string& tag : tags) {
    std::optional<Version> version = TagVersion(tag);
    if (!version) continue;
    const std::string at = where + "@" + version->ToString();
    std::string manifest_digest;
    auto manifest = GetManifest(*http_, repo_url + "/manifests/" + tag, "", &manifest_digest);
    if (!manifest) return std::move(manifest).error().With(where);
    Json annotations = Json::object();
    auto layer =
        WebcLayer(*http_, repo_url, std::move(*manifest), at, &annotations, &manifest_digest);
    if (!layer) return std::move(layer).error();
    const std::string digest = StringAt(*layer, "digest");
    auto hex = DigestHex(digest, at);
    if (!hex) return std::move(hex).error();
    auto uses = UsesAnnotation(annotations, at);
    if (!uses) return std::move(uses).error();
    RegistryEntry e;
    e.registry = registry_;
    e.url = repo_url + "/blobs/" + digest;
    e.pin = OciPin(registry_, loc->Repository(full_name), manifest_digest);
    e.full_name = std::string(full_name);
    e.id = NamedId(full_name, *version);
    e.version = std::move(*version);
    e.sha256_hex = std::move(*hex);
    if (auto size = layer->find("size"); size != layer->end() && size->is_number_unsigned()) {
      e.size = size->get<uint64_t>();
    }
    e.uses = std::move(*uses);
    if (const std::string h = StringAt(annotations, kHeaderAnnotation); !h.empty()) {
      auto header = ParseSha256Hex(h);
      if (!header) return std::move(header).error().With(at + ": " + kHeaderAnnotation);
      e.header_sha256_hex = std::move(*header);
    }
    entries.push_back(std::move(e));
  }
  return &answers_.emplace(std::string(full_name), std::move(entries)).first->second;
}

Result<OciListing> ListOciPackages(const std::string& registry, HttpClient& http,
                                   unsigned workers) {
  auto loc = ParseOciRegistry(registry);
  if (!loc) return std::move(loc).error();
  const std::string where = "registry " + registry;
  OciListing out;
  auto repositories = GetPagedList(http, loc->base + "/v2/_catalog", "repositories");
  if (!repositories) {
    const Error::Code code = repositories.error().code();
    // 401 and 403 (InvalidArgument) or 404: the registry does not list.
    if (code != Error::Code::kNotFound && code != Error::Code::kInvalidArgument) {
      return std::move(repositories).error().With(where);
    }
    out.refused = where + ": cannot list its repositories (" + repositories.error().message() +
                  "); its packages are found when a path names them";
    return out;
  }
  const std::string prefix = loc->prefix.empty() ? "" : loc->prefix + "/";
  std::vector<std::string> names;
  for (const std::string& repo : *repositories) {
    if (!repo.starts_with(prefix)) continue;
    std::string name = repo.substr(prefix.size());
    if (std::count(name.begin(), name.end(), '/') == 1 && ValidatePackageName(name)) {
      names.push_back(std::move(name));
    }
  }
  std::vector<std::vector<std::string>> ids(names.size());
  auto listed = ParallelFor(names.size(), workers, [&](size_t i) -> Result<void> {
    const std::string url = loc->base + "/v2/" + loc->Repository(names[i]) + "/tags/list";
    auto tags = GetPagedList(http, url, "tags");
    // Deleted since the catalog listed it.
    if (!tags && tags.error().code() == Error::Code::kNotFound) return Ok();
    if (!tags) return std::move(tags).error().With(where + ": " + names[i]);
    for (const std::string& tag : *tags) {
      if (auto version = TagVersion(tag)) ids[i].push_back(NamedId(names[i], *version));
    }
    return Ok();
  });
  if (!listed) return std::move(listed).error();
  for (auto& list : ids) out.ids.insert(out.ids.end(), list.begin(), list.end());
  return out;
}

namespace {

// What a blob upload sends: `bytes`, or `size` bytes of the file `fd`.
struct BlobBody {
  const std::string* bytes = nullptr;
  int fd = -1;
  uint64_t size = 0;
};

// Uploads `body` as blob sha256:`hex` unless the repository has it: one PUT,
// or, for a file over kMonolithicUploadBytes, PATCHes of kUploadChunkBytes
// each and a closing PUT.
Result<void> PushBlob(HttpClient& http, const std::string& repo_url, const std::string& hex,
                      const BlobBody& body) {
  const std::string digest = "sha256:" + hex;
  HttpRequest head;
  head.method = "HEAD";
  head.url = repo_url + "/blobs/" + digest;
  auto have = http.Send(head, 0);
  if (have) return Ok();
  if (have.error().code() != Error::Code::kNotFound) return std::move(have).error();
  const std::string empty;
  HttpRequest start;
  start.method = "POST";
  start.url = repo_url + "/blobs/uploads/";
  start.body = &empty;
  auto started = http.Send(start, kMaxOciAnswerBytes);
  if (!started) return std::move(started).error();
  auto next_location = [](const HttpRequest& req,
                          const HttpResponse& answer) -> Result<std::string> {
    const std::string location = answer.Header("location");
    if (location.empty())
      return Error::Io(req.method + " " + req.url + ": no Location in the answer");
    return ResolveUrl(req.url, location);
  };
  auto url = next_location(start, *started);
  if (!url) return std::move(url).error();
  HttpRequest put;
  put.method = "PUT";
  put.content_type = "application/octet-stream";
  if (body.fd >= 0 && body.size > kMonolithicUploadBytes) {
    for (uint64_t offset = 0; offset < body.size; offset += kUploadChunkBytes) {
      HttpRequest patch;
      patch.method = "PATCH";
      patch.url = *url;
      patch.body_fd = body.fd;
      patch.body_offset = offset;
      patch.body_size = std::min(kUploadChunkBytes, body.size - offset);
      patch.content_type = "application/octet-stream";
      patch.headers = {"Content-Range: " + std::to_string(offset) + "-" +
                       std::to_string(offset + patch.body_size - 1)};
      auto sent = http.Send(patch, kMaxOciAnswerBytes);
      if (!sent) return std::move(sent).error();
      url = next_location(patch, *sent);
      if (!url) return std::move(url).error();
    }
    put.body = &empty;
  } else if (body.fd >= 0) {
    put.body_fd = body.fd;
    put.body_size = body.size;
  } else {
    put.body = body.bytes;
  }
  put.url = *url + (url->find('?') == std::string::npos ? "?" : "&") + "digest=" + digest;
  auto done = http.Send(put, kMaxOciAnswerBytes);
  if (!done) return std::move(done).error();
  return Ok();
}

// The sha256 (hex) of the file at `fd`, read in pieces.
Result<std::string> Sha256OfFile(int fd, uint64_t size, const std::string& path) {
  webc::Sha256 sha;
  std::vector<char> buffer(1 << 20);
  for (uint64_t offset = 0; offset < size;) {
    const ssize_t got = ::pread(fd, buffer.data(), std::min<uint64_t>(buffer.size(), size - offset),
                                static_cast<off_t>(offset));
    if (got < 0) return Error::Io(path + ": read", errno);
    if (got == 0) return Error::Io(path + ": the file shrank while it was read");
    sha.Update(std::string_view(buffer.data(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
  }
  return webc::ToHex(sha.Finish());
}

}  // namespace

Result<std::string> PushToOci(const std::string& file, const std::string& registry, bool force,
                              HttpClient& http) {
  auto loc = ParseOciRegistry(registry);
  if (!loc) return std::move(loc).error();
  auto container = webc::Container::OpenFile(file);
  if (!container) return std::move(container).error();
  const webc::Manifest& m = (*container)->manifest();
  if (!m.package_name || !m.package_version) {
    return Error::InvalidArgument(file + ": the package has no name and version to push under");
  }
  if (auto valid = ValidatePackageName(*m.package_name); !valid) {
    return std::move(valid).error().With(file);
  }
  auto version = Version::Parse(*m.package_version);
  if (!version) return std::move(version).error().With(file);
  webc::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) return Error::Io(file + ": open", errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto file_hex = Sha256OfFile(fd.get(), size, file);
  if (!file_hex) return std::move(file_hex).error();
  const std::string& hex = *file_hex;
  auto header = (*container)->HeaderDigest();
  if (!header) return std::move(header).error().With(file);
  const std::string id = NamedId(*m.package_name, *version);
  const std::string tag = OciTag(*version);
  const std::string repo_url = loc->base + "/v2/" + loc->Repository(*m.package_name);
  const std::string where = "registry " + registry + ": " + id;

  // An existing tag: the same bytes are already there; other bytes need --force.
  if (auto old = GetManifest(http, repo_url + "/manifests/" + tag, ""); old) {
    Json annotations;
    std::string old_manifest;
    auto layer = WebcLayer(http, repo_url, std::move(*old), where, &annotations, &old_manifest);
    const std::string old_digest = layer ? StringAt(*layer, "digest") : "";
    if (old_digest == "sha256:" + hex) return id + " is already in " + registry;
    if (!force) {
      return Error::Conflict(where + " exists with other bytes (" +
                             (old_digest.empty() ? "not a webc artifact" : old_digest) +
                             "); pass --force to replace it");
    }
  } else if (old.error().code() != Error::Code::kNotFound) {
    return std::move(old).error().With(where);
  }

  const std::string config(kEmptyConfig);
  const std::string config_hex = Sha256HexOf(config);
  const std::pair<const std::string*, BlobBody> blobs[] = {
      {&hex, BlobBody{nullptr, fd.get(), size}}, {&config_hex, BlobBody{&config, -1, 0}}};
  for (const auto& [blob_hex, blob] : blobs) {
    if (auto pushed = PushBlob(http, repo_url, *blob_hex, blob); !pushed) {
      return std::move(pushed).error().With(where);
    }
  }
  std::string title = *m.package_name;
  title.replace(title.find('/'), 1, "--");
  title += "@" + version->ToString() + ".webc";

  Json annotations = Json::object();
  annotations[kPackageAnnotation] = id;
  if (*header) annotations[kHeaderAnnotation] = webc::ToHex(**header);
  bool all_strings = true;
  nlohmann::ordered_json uses = nlohmann::ordered_json::object();
  for (const webc::Dependency& d : m.uses) {
    if (!d.specifier) all_strings = false;
    if (d.specifier) uses[d.alias] = *d.specifier;
  }
  // Embedded manifests cannot be written as text: readers download the layer.
  if (all_strings) annotations[kUsesAnnotation] = uses.dump();
  Json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kOciManifestType},
      {"artifactType", kWebcMediaType},
      {"config", {{"mediaType", kOciEmptyType}, {"digest", "sha256:" + config_hex}, {"size", 2}}},
      {"layers", Json::array({{{"mediaType", kWebcMediaType},
                               {"digest", "sha256:" + hex},
                               {"size", size},
                               {"annotations", {{kTitleAnnotation, title}}}}})},
      {"annotations", annotations}};
  const std::string text = manifest.dump();
  HttpRequest put;
  put.method = "PUT";
  put.url = repo_url + "/manifests/" + tag;
  put.body = &text;
  put.content_type = kOciManifestType;
  auto done = http.Send(put, kMaxOciAnswerBytes);
  if (!done) return std::move(done).error().With(where);
  return "pushed " + id + " to " + registry + " (" + loc->Repository(*m.package_name) + ":" + tag +
         ", sha256:" + hex + ")";
}

}  // namespace webcfs::resolver
