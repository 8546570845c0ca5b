#include "resolver/listing.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "resolver/answers.h"
#include "resolver/oci.h"
#include "resolver/registry.h"
#include "resolver/resolve_internal.h"
#include "resolver/semver.h"
#include "resolver/specifier.h"

namespace webcfs::resolver {

Result<RegistryListing> ListRegistries(const ResolveOptions& options) {
  RegistryListing listing;
  Warnings warnings(options);
  auto access = OpenRegistryAccess(options, warnings);
  if (!access) return std::move(access).error();
  auto index = RegistryIndex::Open(options.registries, options.max_decompressed_size,
                                   access->http.get(), access->stored());
  if (!index) return std::move(index).error();
  for (const std::string& w : (*index)->warnings()) warnings.Add(w);
  for (const RegistryEntry& e : (*index)->entries()) {
    if (!e.full_name.empty()) listing.ids.push_back(e.id);
  }
  for (const std::string& r : options.registries) {
    if (!WasmerRegistryUrl(r).empty()) listing.lookup_only = true;
    if (!IsOciRegistry(r)) continue;
    if (access->http == nullptr) {  // offline: nothing to ask
      listing.lookup_only = true;
      continue;
    }
    auto oci = ListOciPackages(r, *access->http, std::max(1u, options.load_workers));
    if (!oci) return std::move(oci).error();
    if (!oci->refused.empty()) {
      listing.lookup_only = true;
      listing.unlisted.push_back(std::move(oci->refused));
    }
    listing.ids.insert(listing.ids.end(), oci->ids.begin(), oci->ids.end());
  }
  std::sort(listing.ids.begin(), listing.ids.end());
  listing.ids.erase(std::unique(listing.ids.begin(), listing.ids.end()), listing.ids.end());
  listing.warnings = warnings.Take();
  return listing;
}

Result<CatalogName> ParseCatalogName(std::string_view ns, std::string_view entry) {
  const size_t at = entry.find('@');
  const std::string full_name = std::string(ns) + "/" + std::string(entry.substr(0, at));
  WEBCFS_RETURN_IF_ERROR(ValidatePackageName(full_name));
  CatalogName out;
  if (at == std::string_view::npos) {
    out.spec = full_name;
    return out;
  }
  const std::string_view req = entry.substr(at + 1);
  if (auto version = Version::Parse(req); version && version->ToString() == req) {
    out.spec = full_name + "@=" + std::string(req);
    out.exact = true;
    return out;
  }
  auto parsed = VersionReq::Parse(req);
  if (!parsed || req.empty()) {
    return Error::InvalidArgument("'" + std::string(entry) + "': not a version or requirement");
  }
  out.spec = full_name + "@" + std::string(req);
  // The specifier must read back as this package, not as another form.
  auto spec = ParseSpecifier(out.spec);
  if (!spec || spec->kind != Specifier::Kind::kRegistry || spec->full_name != full_name) {
    return Error::InvalidArgument("'" + std::string(entry) + "': not a version or requirement");
  }
  return out;
}

bool IsNamespaceName(std::string_view ns) {
  return static_cast<bool>(ValidatePackageName(std::string(ns) + "/x"));
}

bool IsMissingRoot(const Error& error, std::string_view spec) {
  if (error.code() != Error::Code::kNotFound) return false;
  const std::string prefix = std::string(spec) + ": no ";
  return error.message().starts_with(prefix);
}

}  // namespace webcfs::resolver
