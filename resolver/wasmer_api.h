// A Wasmer registry API as a source of packages (docs/resolution.md,
// "Wasmer's registry API"). It speaks exactly what Wasmer's runtime client
// speaks, so any registry Wasmer's runtime works with works here: one POST
// of {"query": "<text>"} per package name (or per sha256), the text being
// Wasmer's with the name spliced in. An answer carries each version's
// manifest, so dependencies are known before anything is downloaded.
//
// Thread-safety: none; the resolver asks from one thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/registry.h"
#include "webc/base/result.h"

namespace webcfs::resolver {

class AnswerCache;
class HttpClient;

// The answer to `getPackage` for `full_name`, as registry entries (url,
// sha256, uses set): versions that are not semver, archived, or lack a
// manifest, hash or URL in both distributions are left out; the `v3`
// distribution is preferred, `v2` taken when v3 lacks one of them. An unknown
// package is an empty list. Errors (a malformed answer, a GraphQL `errors`
// array) name `registry` and the package. Exposed for tests.
Result<std::vector<RegistryEntry>> ParseWasmerPackageAnswer(const std::string& body,
                                                            const std::string& registry,
                                                            std::string_view full_name);

// The answer to `getPackageRelease` for `sha256_hex`: one unnamed entry, or
// nullopt when the registry has no such release.
Result<std::optional<RegistryEntry>> ParseWasmerReleaseAnswer(const std::string& body,
                                                              const std::string& registry,
                                                              std::string_view sha256_hex);

// The request bodies: {"query": "<Wasmer's text with the name or hash>"}.
std::string WasmerPackageQuery(std::string_view full_name);
std::string WasmerReleaseQuery(std::string_view sha256_hex);

class WasmerRegistry {
 public:
  // `registry` as the user gave it ("wasmer", a URL); `url` the endpoint.
  // `answers` (may be nullptr) keeps answers between processes.
  WasmerRegistry(std::string registry, std::string url, HttpClient* http,
                 const AnswerCache* answers)
      : registry_(std::move(registry)),
        url_(std::move(url)),
        http_(http),
        answers_cache_(answers) {}

  const std::string& registry() const { return registry_; }

  // Every usable version of `full_name`; asked once per object.
  Result<const std::vector<RegistryEntry>*> Versions(std::string_view full_name);
  // Asks for the versions of these names in parallel, one round trip for
  // all; what fails is asked again (and reported) by Versions.
  void Prefetch(std::span<const std::string> full_names);
  // The release whose container hashes to `sha256_hex`, or nullptr.
  Result<const RegistryEntry*> ByHash(std::string_view sha256_hex);

 private:
  Result<std::string> Ask(const std::string& body, const std::string& what);
  // Parses and keeps the answer about `full_name`.
  Result<const std::vector<RegistryEntry>*> Accept(std::string_view full_name,
                                                   const std::string& body);

  std::string registry_;
  std::string url_;
  HttpClient* http_;
  const AnswerCache* answers_cache_;
  std::map<std::string, std::vector<RegistryEntry>, std::less<>> answers_;
  std::map<std::string, std::unique_ptr<RegistryEntry>, std::less<>> releases_;
};

}  // namespace webcfs::resolver
