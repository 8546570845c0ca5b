// MountConfig: everything `webcfs mount` needs, filled from the command line
// and/or a JSON configuration file (`webcfs mount --config FILE`).
//
// File format: a JSON object whose keys are the `config_key` column of the
// settings table (daemon/mount_settings.cc), plus "lockfile" as another name
// for "package"; every key is optional; unknown keys, duplicate keys and wrong
// types are errors that name the key. Example: systemd/example.json.
// Command-line flags given explicitly override the file's values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuse/options.h"
#include "resolver/resolution.h"
#include "webc/base/result.h"
#include "webc/container.h"

namespace webcfs::daemon {

struct MountConfig {
  std::string spec;  // package specifier or lockfile path
  std::string mountpoint;
  std::string config_file;  // the file these settings were read from (command line only)
  std::vector<std::string> registries;  // first wins on identical ids
  std::string registry_token;           // empty: $WASMER_TOKEN
  bool offline = false;                 // use only the cache
  std::string cache_dir;                // empty: the resolver's default
  uint64_t cache_max_bytes = 0;         // LRU eviction above this; 0: no limit
  bool no_cache = false;                // serve package files in place (command line only)
  std::vector<std::string> mount_options;
  int64_t uid = -1;  // -1: the daemon's own
  int64_t gid = -1;
  std::string meta_dir{fuse::kDefaultMetaDir};
  bool no_meta_dir = false;
  unsigned threads = fuse::kDefaultThreads;
  bool verify = false;
  bool no_lazy = false;   // download remote packages whole before mounting
  bool prefetch = false;  // lazy packages: download the rest once the mount answers
  // `.webc.zst` packages inflating past this are refused (command line only).
  uint64_t max_decompressed_size = webc::kMaxDecompressedSize;
  std::string log_level = "info";
  std::string log_file;  // empty: syslog in the background, the journal under systemd
  bool foreground = false;
  // Serve every package of the registries at MOUNTPOINT/<ns>/<name>@<version>/
  // (fuse/catalog.h) instead of one `spec`.
  bool catalog = false;
  uint64_t catalog_idle = 600;  // seconds a forgotten package tree is kept
};

inline constexpr uint64_t kMaxCatalogIdle = 86400 * 365;

inline constexpr unsigned kMaxThreads = 64;

// What resolution needs of `config`: registries, token, cache, checks.
resolver::ResolveOptions ResolveOptionsFor(const MountConfig& config);

// Applies the JSON object in `text` onto `config`. `name` (the file path)
// prefixes every error: "x.json: key 'threads': expected an integer in 1..64".
Result<void> ApplyConfigJson(std::string_view text, const std::string& name, MountConfig* config);

// Reads `path` and applies it (ApplyConfigJson). Relative paths in the file
// are relative to the file's directory (MakePathsAbsolute).
Result<void> ApplyConfigFile(const std::string& path, MountConfig* config);

// Makes the relative paths of `config` absolute against the directory `base`:
// mountpoint, registries, cache_dir, log_file, and a spec naming a file (`./app.webc`,
// `../x.webc.zst`, a lockfile `*.json`); `ns/name@req` and `sha256:` specs
// stay as they are. The daemon serves from `/`, and every reload resolves
// the same paths again there.
void MakePathsAbsolute(const std::string& base, MountConfig* config);

// The token for remote registries: `given`, else $WASMER_TOKEN, else empty.
std::string RegistryToken(const std::string& given);

}  // namespace webcfs::daemon
