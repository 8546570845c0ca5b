// OCI distribution registries as a source of packages and a place to push
// them (docs/resolution.md, "OCI registries"). `oci://HOST[:PORT]/PREFIX`
// speaks HTTPS, `oci+http://HOST[:PORT]/PREFIX` plain HTTP. Package
// `ns/name@version` is repository `PREFIX/ns/name`, tag `version` with `+`
// written `_` (tags have no `+`). The artifact is an image manifest with one
// layer of media type application/vnd.wasmer.webc (or titled `*.webc`), the
// webc itself; the manifest annotation `org.webcfs.uses` lists its `use`
// entries so a tree resolves before any layer is downloaded.
//
// Manifests are verified against their digest; layers are downloaded through
// the verified download path (resolver/loader.h), which checks the sha256.
//
// Thread-safety: none; the resolver asks from one thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/registry.h"
#include "webc/base/result.h"

namespace webcfs::resolver {

class HttpClient;

inline constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndexType = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciEmptyType = "application/vnd.oci.empty.v1+json";
inline constexpr const char* kWebcMediaType = "application/vnd.wasmer.webc";

// Where an `oci://` or `oci+http://` registry string points.
struct OciLocation {
  std::string base;    // "https://host:port", no trailing slash
  std::string prefix;  // "a/b" or empty
  // The repository of `full_name`: "PREFIX/ns/name".
  std::string Repository(std::string_view full_name) const;
};

// The location, or an error naming `registry` (no host, not an OCI string).
Result<OciLocation> ParseOciRegistry(std::string_view registry);

// The tag of a version: its text with '+' written '_'.
std::string OciTag(const Version& version);

// What a lockfile records for a package pulled from `registry`: the
// manifest by digest, "oci[+http]://HOST[:PORT]/REPOSITORY@sha256:<hex>", so
// that a locked mount never depends on a tag.
std::string OciPin(std::string_view registry, std::string_view repository,
                   std::string_view manifest_digest);

// The blob URL of the webc layer of the manifest `pin` names, fetched by its
// digest and verified; its layer must be sha256 `sha256_hex`.
Result<std::string> OciPinnedBlobUrl(const std::string& pin, const std::string& sha256_hex,
                                     HttpClient& http);

class OciRegistry {
 public:
  OciRegistry(std::string registry, HttpClient* http)
      : registry_(std::move(registry)), http_(http) {}

  const std::string& registry() const { return registry_; }

  // Every version of `full_name` whose tag is semver, with the blob URL and
  // sha256 of its webc layer; asked once per object. An unknown repository
  // is an empty list.
  Result<const std::vector<RegistryEntry>*> Versions(std::string_view full_name);

 private:
  std::string registry_;
  HttpClient* http_;
  std::map<std::string, std::vector<RegistryEntry>, std::less<>> answers_;
};

// What an OCI registry lists (a catalog mount's listing, resolver/listing.h).
struct OciListing {
  std::vector<std::string> ids;  // "ns/name@1.2.3"
  // Set when the registry refuses to list its repositories (401, 403 or 404
  // on /v2/_catalog, as many hosted registries answer): one line saying so;
  // its packages can still be looked up by name.
  std::string refused;
};

// The packages `registry` offers: the repositories PREFIX/ns/name of its
// catalog (GET /v2/_catalog and the pages its Link headers name), and for
// each the versions of its semver tags (GET .../tags/list, paged alike),
// asked on up to `workers` threads. No manifest is read.
Result<OciListing> ListOciPackages(const std::string& registry, HttpClient& http, unsigned workers);

// Uploads the webc at `file` (named package required) and its manifest under
// its version's tag. An existing tag with other bytes is refused unless
// `force`. Returns one line saying what was done.
Result<std::string> PushToOci(const std::string& file, const std::string& registry, bool force,
                              HttpClient& http);

}  // namespace webcfs::resolver
