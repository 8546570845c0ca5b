// What a catalog mount (fuse/catalog.h) shows and asks: the packages the
// listable registries offer, and how a path component of a namespace
// directory ("name@1.2.3", "name@^1", "name") becomes a specifier.
//
// Listable sources are directory registries, static mirrors (their
// index.json) and OCI registries that list their catalog (resolver/oci.h); a
// source that can only answer for a name it is asked about (Wasmer's registry
// API, an OCI registry that refuses /v2/_catalog) is lookup-only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "resolver/resolution.h"
#include "webc/base/result.h"

namespace webcfs::resolver {

struct RegistryListing {
  std::vector<std::string> ids;  // "ns/name@1.2.3" of every named package, sorted, unique
  bool lookup_only = false;      // some registry answers lookups it cannot list
  // One line per registry that could list but refused to (an OCI registry's
  // answer to /v2/_catalog); the listing goes on without it.
  std::vector<std::string> unlisted;
  std::vector<std::string> warnings;
};

// Lists every registry of `options` that can list (remote indexes are fetched
// unless fresh in the answer cache, like a resolution).
Result<RegistryListing> ListRegistries(const ResolveOptions& options);

// A namespace directory's entry as a specifier.
struct CatalogName {
  std::string spec;    // "ns/name@=1.2.3", "ns/name@^1", "ns/name"
  bool exact = false;  // a full version: its tree never changes
};

// "name@1.2.3" (a full version: exactly it), "name@REQ" (a requirement:
// "1", "^1.2", "~1.2.3", ...) or "name" (the newest release) in namespace
// `ns`. InvalidArgument for anything else (an empty or invalid name or
// requirement).
Result<CatalogName> ParseCatalogName(std::string_view ns, std::string_view entry);

// A namespace as ValidatePackageName accepts it.
bool IsNamespaceName(std::string_view ns);

// True when `error`, returned by Resolve(spec), says that nothing matches the
// root itself (as opposed to a dependency, or a registry that failed).
bool IsMissingRoot(const Error& error, std::string_view spec);

}  // namespace webcfs::resolver
