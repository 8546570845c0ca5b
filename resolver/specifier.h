// Package specifiers (docs/architecture.md,
// "Package identity and specifiers"):
//   contains "://"        → URL (recognized; no remote source exists yet)
//   starts with '.' or '/' → local path to a .webc / .webc.zst
//   sha256:<64 hex>       → a container by the SHA-256 of its bytes
//   otherwise             → [registry:]namespace/name[@requirement]
#pragma once

#include <string>
#include <string_view>

#include "resolver/semver.h"
#include "webc/base/result.h"

namespace webcfs::resolver {

struct Specifier {
  enum class Kind { kUrl, kPath, kHash, kRegistry };
  Kind kind = Kind::kRegistry;
  std::string text;        // as written
  std::string url;         // kUrl
  std::string path;        // kPath
  std::string sha256_hex;  // kHash: 64 lowercase hex digits
  std::string registry;    // kRegistry: the optional `registry:` prefix
  std::string full_name;   // kRegistry: "namespace/name"
  VersionReq requirement;  // kRegistry
};

Result<Specifier> ParseSpecifier(std::string_view text);

// "namespace/name": each part non-empty, of [A-Za-z0-9._-], not "." or "..".
Result<void> ValidatePackageName(std::string_view full_name);

// Lowercase 64-digit hex, or an error.
Result<std::string> ParseSha256Hex(std::string_view hex);

// Package ids: "namespace/name@1.2.3" or "sha256:<hex>".
std::string NamedId(std::string_view full_name, const Version& version);
std::string HashId(std::string_view sha256_hex);

}  // namespace webcfs::resolver
