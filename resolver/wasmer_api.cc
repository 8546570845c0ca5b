#include "resolver/wasmer_api.h"

#include <nlohmann/json.hpp>

#include "resolver/answers.h"
#include "resolver/http.h"
#include "resolver/loader.h"
#include "resolver/resolution.h"
#include "resolver/specifier.h"
#include "webc/manifest.h"

namespace webcfs::resolver {
namespace {

using Json = nlohmann::json;

// Answers larger than this are refused (a package with thousands of versions
// and their manifests stays far below).
constexpr uint64_t kMaxAnswerBytes = uint64_t{64} << 20;

// Wasmer's query texts, byte for byte (WASMER_WEBC_QUERY_ALL and
// WASMER_WEBC_QUERY_BY_HASH of Wasmer's runtime client): registries may
// match on them, and the test double accepts nothing else.
constexpr std::string_view kPackageQuery = R"({
    getPackage(name: "$NAME") {
        packageName
        namespace
        versions {
          version
          isArchived
          v2: distribution(version: V2) {
            piritaDownloadUrl
            piritaSha256Hash
            webcManifest
          }
          v3: distribution(version: V3) {
            piritaDownloadUrl
            piritaSha256Hash
            webcManifest
          }
        }
    }
    info {
        defaultFrontend
    }
})";

constexpr std::string_view kReleaseQuery = R"({
    getPackageRelease(hash: "$HASH") {
        piritaManifest
        isArchived
        webcUrl
    }
})";

std::string Splice(std::string_view text, std::string_view placeholder, std::string_view value) {
  std::string out(text);
  out.replace(out.find(placeholder), placeholder.size(), value);
  return Json{{"query", out}}.dump();
}

// The document, or an error for non-JSON and for a GraphQL `errors` array.
Result<Json> ParseAnswer(const std::string& body, const std::string& where) {
  Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::Corrupt(where + ": the answer is not JSON");
  if (!doc.is_object()) return Error::Corrupt(where + ": the answer is not a JSON object");
  if (auto errors = doc.find("errors");
      errors != doc.end() && errors->is_array() && !errors->empty()) {
    std::string messages;
    for (const Json& e : *errors) {
      auto m = e.is_object() ? e.find("message") : e.end();
      std::string text = m != e.end() && m->is_string() ? m->get<std::string>() : e.dump();
      messages += (messages.empty() ? "" : "; ") + text;
    }
    return Error::Io(where + ": the registry answered with errors: " + messages);
  }
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_object()) {
    return Error::Corrupt(where + ": the answer has no 'data' object");
  }
  return std::move(*data);
}

// A required member of the given type; `what` names it in the error.
Result<const Json*> Member(const Json& obj, const char* key, Json::value_t type,
                           const std::string& what) {
  auto it = obj.find(key);
  if (it == obj.end() || it->type() != type) {
    return Error::Corrupt(what + "." + key + ": missing or of the wrong type");
  }
  return &*it;
}

// A distribution's three fields when all are present strings.
struct Distribution {
  std::string url, sha256, manifest;
};
std::optional<Distribution> Usable(const Json& dist) {
  if (!dist.is_object()) return std::nullopt;
  const char* keys[] = {"piritaDownloadUrl", "piritaSha256Hash", "webcManifest"};
  for (const char* k : keys) {
    auto it = dist.find(k);
    if (it == dist.end() || !it->is_string()) return std::nullopt;
  }
  return Distribution{dist["piritaDownloadUrl"], dist["piritaSha256Hash"], dist["webcManifest"]};
}

// The `use` entries of a manifest given as JSON text.
Result<std::vector<webc::Dependency>> UsesOf(const std::string& manifest_json) {
  auto cbor = webc::EncodeManifestJson(manifest_json);
  if (!cbor) return std::move(cbor).error();
  auto m = webc::DecodeManifest(*cbor);
  if (!m) return std::move(m).error();
  return std::move(m->uses);
}

Result<std::optional<RegistryEntry>> Decode(const Json& v, const std::string& full_name,
                                            const std::string& registry, const std::string& what) {
  auto version_text = Member(v, "version", Json::value_t::string, what);
  if (!version_text) return std::move(version_text).error();
  auto v2 = Member(v, "v2", Json::value_t::object, what);
  if (!v2) return std::move(v2).error();
  auto v3 = Member(v, "v3", Json::value_t::object, what);
  if (!v3) return std::move(v3).error();
  auto version = Version::Parse((*version_text)->get<std::string>());
  if (!version) return std::optional<RegistryEntry>();  // not semver: skipped, as Wasmer does
  auto archived = v.find("isArchived");
  if (archived != v.end() && archived->is_boolean() && archived->get<bool>()) {
    return std::optional<RegistryEntry>();
  }
  std::optional<Distribution> dist = Usable(**v3);
  if (!dist) dist = Usable(**v2);
  if (!dist) return std::optional<RegistryEntry>();
  RegistryEntry e;
  e.registry = registry;
  e.url = dist->url;
  e.full_name = full_name;
  e.id = NamedId(full_name, *version);
  e.version = std::move(*version);
  auto hex = ParseSha256Hex(dist->sha256);
  if (!hex) return std::move(hex).error().With(what + ": piritaSha256Hash");
  e.sha256_hex = std::move(*hex);
  auto uses = UsesOf(dist->manifest);
  if (!uses) return std::move(uses).error().With(what + ": webcManifest");
  e.uses = std::move(*uses);
  return std::optional<RegistryEntry>(std::move(e));
}

}  // namespace

std::string WasmerPackageQuery(std::string_view full_name) {
  return Splice(kPackageQuery, "$NAME", full_name);
}

std::string WasmerReleaseQuery(std::string_view sha256_hex) {
  return Splice(kReleaseQuery, "$HASH", "sha256:" + std::string(sha256_hex));
}

Result<std::vector<RegistryEntry>> ParseWasmerPackageAnswer(const std::string& body,
                                                            const std::string& registry,
                                                            std::string_view full_name) {
  const std::string where = "registry " + registry + ": " + std::string(full_name);
  auto data = ParseAnswer(body, where);
  if (!data) return std::move(data).error();
  // Required although unused: Wasmer's client fails without it, so a
  // registry that omits it is not one Wasmer works with.
  auto info = Member(*data, "info", Json::value_t::object, where + ": data");
  if (!info) return std::move(info).error();
  auto frontend = Member(**info, "defaultFrontend", Json::value_t::string, where + ": data.info");
  if (!frontend) return std::move(frontend).error();
  auto pkg = data->find("getPackage");
  if (pkg == data->end() || pkg->is_null()) return std::vector<RegistryEntry>();
  const std::string at = where + ": data.getPackage";
  if (!pkg->is_object()) return Error::Corrupt(at + ": not an object");
  auto name = Member(*pkg, "packageName", Json::value_t::string, at);
  if (!name) return std::move(name).error();
  auto ns = Member(*pkg, "namespace", Json::value_t::string, at);
  if (!ns) return std::move(ns).error();
  auto versions = Member(*pkg, "versions", Json::value_t::array, at);
  if (!versions) return std::move(versions).error();
  // The id takes the name from the answer, as Wasmer's does.
  const std::string answered = (*ns)->get<std::string>() + "/" + (*name)->get<std::string>();
  if (auto valid = ValidatePackageName(answered); !valid) return std::move(valid).error().With(at);
  std::vector<RegistryEntry> out;
  for (size_t i = 0; i < (*versions)->size(); ++i) {
    const Json& v = (**versions)[i];
    const std::string what = at + ".versions[" + std::to_string(i) + "]";
    if (!v.is_object()) return Error::Corrupt(what + ": not an object");
    auto e = Decode(v, answered, registry, what);
    if (!e) return std::move(e).error();
    if (*e) out.push_back(std::move(**e));
  }
  return out;
}

Result<std::optional<RegistryEntry>> ParseWasmerReleaseAnswer(const std::string& body,
                                                              const std::string& registry,
                                                              std::string_view sha256_hex) {
  const std::string where = "registry " + registry + ": sha256:" + std::string(sha256_hex);
  auto data = ParseAnswer(body, where);
  if (!data) return std::move(data).error();
  auto rel = data->find("getPackageRelease");
  if (rel == data->end() || rel->is_null()) return std::optional<RegistryEntry>();
  const std::string at = where + ": data.getPackageRelease";
  if (!rel->is_object()) return Error::Corrupt(at + ": not an object");
  auto manifest = Member(*rel, "piritaManifest", Json::value_t::string, at);
  if (!manifest) return std::move(manifest).error();
  auto url = Member(*rel, "webcUrl", Json::value_t::string, at);
  if (!url) return std::move(url).error();
  if (auto archived = Member(*rel, "isArchived", Json::value_t::boolean, at); !archived) {
    return std::move(archived).error();
  }
  RegistryEntry e;
  e.registry = registry;
  e.url = (*url)->get<std::string>();
  e.sha256_hex = std::string(sha256_hex);  // the bytes must hash to what was asked for
  e.id = HashId(sha256_hex);
  auto uses = UsesOf((*manifest)->get<std::string>());
  if (!uses) return std::move(uses).error().With(at + ".piritaManifest");
  e.uses = std::move(*uses);
  return std::optional<RegistryEntry>(std::move(e));
}

Result<std::string> WasmerRegistry::Ask(const std::string& body, const std::string& what) {
  if (answers_cache_ != nullptr) {
    if (auto stored = answers_cache_->Find(url_, body)) return std::move(*stored);
  }
  if (http_ == nullptr) {
    return Error::NotFound("registry " + registry_ + ": " + what +
                           ": offline, and no answer from an earlier resolve is stored");
  }
  auto answer = http_->PostJson(url_, body, kMaxAnswerBytes);
  if (!answer) return std::move(answer).error().With("registry " + registry_ + ": " + what);
  // Only answers that parse are kept: a broken one is asked again next time.
  if (answers_cache_ != nullptr) {
    Json doc = Json::parse(*answer, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("data") && !doc.contains("errors")) {
      answers_cache_->Store(url_, body, *answer);
    }
  }
  return answer;
}

Result<const std::vector<RegistryEntry>*> WasmerRegistry::Versions(std::string_view full_name) {
  if (auto it = answers_.find(full_name); it != answers_.end()) return &it->second;
  auto body = Ask(WasmerPackageQuery(full_name), std::string(full_name));
  if (!body) return std::move(body).error();
  return Accept(full_name, *body);
}

void WasmerRegistry::Prefetch(std::span<const std::string> full_names) {
  std::vector<std::string> todo;
  for (const std::string& name : full_names) {
    if (answers_.contains(name)) continue;
    // A stored answer costs no round trip, so it gets no thread either.
    if (answers_cache_ != nullptr) {
      if (auto stored = answers_cache_->Find(url_, WasmerPackageQuery(name))) {
        (void)Accept(name, *stored);
        continue;
      }
    }
    todo.push_back(name);
  }
  if (todo.size() < 2) return;
  std::vector<std::optional<std::string>> bodies(todo.size());
  (void)ParallelFor(todo.size(), kParallelDownloads, [&](size_t i) -> Result<void> {
    auto body = Ask(WasmerPackageQuery(todo[i]), todo[i]);
    if (body) bodies[i] = std::move(*body);
    return Ok();
  });
  for (size_t i = 0; i < todo.size(); ++i) {
    if (bodies[i]) (void)Accept(todo[i], *bodies[i]);
  }
}

Result<const std::vector<RegistryEntry>*> WasmerRegistry::Accept(std::string_view full_name,
                                                                 const std::string& body) {
  auto entries = ParseWasmerPackageAnswer(body, registry_, full_name);
  if (!entries) return std::move(entries).error();
  // Downloads go to the hosts the registry names; the token goes with them.
  if (http_ != nullptr) {
    for (const RegistryEntry& e : *entries) http_->AddTokenUrl(e.url);
  }
  return &answers_.emplace(std::string(full_name), std::move(*entries)).first->second;
}

Result<const RegistryEntry*> WasmerRegistry::ByHash(std::string_view sha256_hex) {
  if (auto it = releases_.find(sha256_hex); it != releases_.end()) return it->second.get();
  auto body = Ask(WasmerReleaseQuery(sha256_hex), "sha256:" + std::string(sha256_hex));
  if (!body) return std::move(body).error();
  auto entry = ParseWasmerReleaseAnswer(*body, registry_, sha256_hex);
  if (!entry) return std::move(entry).error();
  std::unique_ptr<RegistryEntry> kept;
  if (*entry) {
    if (http_ != nullptr) http_->AddTokenUrl((*entry)->url);
    kept = std::make_unique<RegistryEntry>(std::move(**entry));
  }
  const RegistryEntry* out = kept.get();
  releases_.emplace(std::string(sha256_hex), std::move(kept));
  return out;
}

}  // namespace webcfs::resolver
