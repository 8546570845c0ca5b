// Directory registries (docs/architecture.md, "Sources"): folders of `*.webc` and
// `*.webc.zst` files, and of Wasmer's cached downloads, `<sha256>.bin`
// (`~/.wasmer/cache/checkouts/`), which must hash to their name.
//
// A file named `namespace--name@version.webc[.zst]` is indexed from its name
// without being opened. Any other file is opened once and indexed by its
// manifest's `wapm` name and version; a container without them is addressable
// only as `sha256:<hex of its bytes>`. Files that cannot be read as containers
// are skipped with a warning naming the file. Hidden files (".x") and files
// with other extensions are ignored.
//
// Several folders merge in order: the first folder wins for an identical id.
// Within one folder, the first file in byte order of names wins and later
// duplicates are skipped with a warning.
//
// Cost: each Open() lists the folders again (so a reload sees new files), but
// a file is opened or hashed at most once per process for the same file
// version (path, inode, size, mtime).
//
// Thread-safety: an index is immutable; Open() may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resolver/cache.h"
#include "resolver/semver.h"
#include "webc/base/result.h"
#include "webc/manifest.h"

namespace webcfs::resolver {

class AnswerCache;
class HttpClient;

struct RegistryEntry {
  std::string path;  // absolute path of the file; empty when remote
  std::string url;   // where a remote file is downloaded from
  // What the lockfile records instead of `url`, when not empty (an OCI
  // manifest by digest, resolver/oci.h).
  std::string pin;
  std::string registry;            // the registry as given (for messages)
  std::string id;                  // "ns/name@1.2.3" or "sha256:<hex>"
  std::string full_name;           // empty for an unnamed container
  std::optional<Version> version;  // set when named
  // Set for unnamed containers (their id) and for entries from an index.json
  // (the hash the bytes must have).
  std::string sha256_hex;
  // From an index.json: the v3 header digest (docs/webc-format.md §5.4), which
  // lets the package be mounted before it is downloaded; empty when not listed.
  std::string header_sha256_hex;
  uint64_t size = 0;                                  // from an index.json; 0 = unknown
  std::optional<std::vector<webc::Dependency>> uses;  // from an index.json
  bool from_file_name = false;                        // indexed by file name; not opened yet

  // The file (path) or the URL, for messages and the lockfile.
  const std::string& source() const { return url.empty() ? path : url; }
};

class RegistryIndex {
 public:
  // `.webc.zst` files inflating past `max_decompressed` bytes are skipped
  // with a warning. A folder with an `index.json` (resolver/index_file.h) is
  // read from it; an http(s) URL is a static mirror whose `index.json` is
  // fetched with `http` unless `answers` has it fresh (nullptr http: offline,
  // only a stored index). Wasmer API registries
  // (IsWasmerRegistry) are not listed here.
  static Result<std::shared_ptr<const RegistryIndex>> Open(
      const std::vector<std::string>& folders, uint64_t max_decompressed = kMaxDecompressedSize,
      HttpClient* http = nullptr, const AnswerCache* answers = nullptr);

  // Every entry named `full_name`, highest version first.
  std::vector<const RegistryEntry*> Versions(std::string_view full_name) const;
  // The unnamed entry whose bytes hash to `sha256_hex`, or nullptr.
  const RegistryEntry* FindHash(std::string_view sha256_hex) const;
  const std::vector<RegistryEntry>& entries() const { return entries_; }
  // One line per skipped file: "<path>: skipped: <why>".
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::vector<RegistryEntry> entries_;
  std::map<std::string, std::vector<size_t>, std::less<>> by_name_;
  std::map<std::string, size_t, std::less<>> by_hash_;
  std::vector<std::string> warnings_;
};

// "namespace--name@version.webc" or ".webc.zst" → ("namespace/name", version);
// nullopt when the file name does not have that shape.
std::optional<std::pair<std::string, Version>> ParseRegistryFileName(std::string_view file_name);

// "<path>: skipped: <why>", without repeating the path when `why` starts with it.
std::string SkipWarning(const std::string& path, const std::string& why);

// The URL of a Wasmer registry API: "wasmer" ($WASMER_REGISTRY, else
// kWasmerRegistry) or an http(s) URL whose path ends in "/graphql"; empty
// when `registry` is neither.
inline constexpr const char* kWasmerRegistry = "https://registry.wasmer.io/graphql";
std::string WasmerRegistryUrl(std::string_view registry);

// True for OCI registries, "oci://..." and "oci+http://..." (resolver/oci.h).
bool IsOciRegistry(std::string_view registry);

// True for names a registry considers: "*.webc" and "*.webc.zst", not hidden.
bool IsRegistryFileName(std::string_view file_name);

}  // namespace webcfs::resolver
