#include "resolver/specifier.h"

#include <algorithm>

#include "resolver/quote.h"

namespace webcfs::resolver {
namespace {

inline constexpr std::string_view kHashPrefix = "sha256:";

bool IsNameChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
         c == '-' || c == '_';
}

Result<void> ValidateNamePart(std::string_view part, const char* what) {
  if (part.empty()) return Error::InvalidArgument(std::string(what) + " is empty");
  if (part == "." || part == "..") {
    return Error::InvalidArgument(std::string(what) + " " + Quote(part) + " is not allowed");
  }
  auto bad = std::find_if_not(part.begin(), part.end(), IsNameChar);
  if (bad != part.end()) {
    return Error::InvalidArgument(std::string(what) + " " + Quote(part) + " contains " +
                                  Quote(std::string_view(&*bad, 1)) +
                                  " (allowed: letters, digits, '.', '-', '_')");
  }
  return Ok();
}

}  // namespace

Result<void> ValidatePackageName(std::string_view full_name) {
  size_t slash = full_name.find('/');
  if (slash == std::string_view::npos) {
    return Error::InvalidArgument("package name " + Quote(full_name) + ": expected namespace/name");
  }
  auto ns = ValidateNamePart(full_name.substr(0, slash), "namespace");
  if (!ns) return std::move(ns).error().With("package name " + Quote(full_name));
  auto name = ValidateNamePart(full_name.substr(slash + 1), "name");
  if (!name) return std::move(name).error().With("package name " + Quote(full_name));
  return Ok();
}

Result<std::string> ParseSha256Hex(std::string_view hex) {
  if (hex.size() != 64) {
    return Error::InvalidArgument("sha256 " + Quote(hex) + ": expected 64 hex digits, got " +
                                  std::to_string(hex.size()));
  }
  std::string out(hex);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Error::InvalidArgument("sha256 " + Quote(hex) +
                                    ": not a hex digit: " + Quote(std::string_view(&c, 1)));
    }
  }
  return out;
}

std::string NamedId(std::string_view full_name, const Version& version) {
  return std::string(full_name) + "@" + version.ToString();
}

std::string HashId(std::string_view sha256_hex) {
  return std::string(kHashPrefix) + std::string(sha256_hex);
}

Result<Specifier> ParseSpecifier(std::string_view text) {
  if (text.size() > 4096) return Error::InvalidArgument("specifier too long");
  if (text.find('\0') != std::string_view::npos) {
    return Error::InvalidArgument("specifier contains a NUL byte");
  }
  Specifier spec;
  spec.text = std::string(text);
  if (text.empty()) return Error::InvalidArgument("empty package specifier");
  if (text.find("://") != std::string_view::npos) {
    spec.kind = Specifier::Kind::kUrl;
    spec.url = spec.text;
    return spec;
  }
  if (text.front() == '.' || text.front() == '/') {
    spec.kind = Specifier::Kind::kPath;
    spec.path = spec.text;
    return spec;
  }
  if (text.starts_with(kHashPrefix)) {
    auto hex = ParseSha256Hex(text.substr(kHashPrefix.size()));
    if (!hex) return std::move(hex).error().With("specifier " + Quote(text));
    spec.kind = Specifier::Kind::kHash;
    spec.sha256_hex = std::move(*hex);
    return spec;
  }

  spec.kind = Specifier::Kind::kRegistry;
  std::string_view rest = text;
  size_t at = rest.find('@');
  std::string_view req_text;
  bool has_req = at != std::string_view::npos;
  if (has_req) {
    req_text = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  // `registry:` prefix: a colon before the first '/'.
  size_t colon = rest.find(':');
  if (colon != std::string_view::npos && colon < rest.find('/')) {
    spec.registry = std::string(rest.substr(0, colon));
    auto reg = ValidateNamePart(spec.registry, "registry");
    if (!reg) return std::move(reg).error().With("specifier " + Quote(text));
    rest = rest.substr(colon + 1);
  }
  auto name = ValidatePackageName(rest);
  if (!name) return std::move(name).error().With("specifier " + Quote(text));
  spec.full_name = std::string(rest);
  if (has_req) {
    auto req = VersionReq::Parse(req_text);
    if (!req) return std::move(req).error().With("specifier " + Quote(text));
    spec.requirement = std::move(*req);
  }
  return spec;
}

}  // namespace webcfs::resolver
