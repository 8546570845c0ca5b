// libFuzzer target: the specifier and semver parsers (resolver/specifier.h,
// resolver/semver.h) on raw text. Input: "<specifier or version>\n<requirement>".
// Besides not crashing, what parses must round-trip and order consistently.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resolver/semver.h"
#include "resolver/specifier.h"

using webcfs::resolver::ParseSpecifier;
using webcfs::resolver::Specifier;
using webcfs::resolver::Version;
using webcfs::resolver::VersionReq;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t newline = text.find('\n');
  const std::string_view first = text.substr(0, newline);
  const std::string_view second =
      newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

  auto spec = ParseSpecifier(text);
  if (spec && spec->kind == Specifier::Kind::kRegistry) {
    // A registry specifier's name is a valid package name.
    if (!webcfs::resolver::ValidatePackageName(spec->full_name)) __builtin_trap();
  }
  (void)ParseSpecifier(first);
  (void)webcfs::resolver::ParseSha256Hex(first);

  auto version = Version::Parse(first);
  auto req = VersionReq::Parse(second);
  if (version) {
    // Canonical text parses back to an equal version with the same text.
    const std::string shown = version->ToString();
    auto again = Version::Parse(shown);
    if (!again || !(*again == *version) || again->ToString() != shown) __builtin_trap();
    if ((*version <=> *again) != std::strong_ordering::equal) __builtin_trap();
    if (!VersionReq::Exact(*version).Matches(*version)) __builtin_trap();
    (void)webcfs::resolver::NamedId("ns/name", *version);
    if (req) (void)req->Matches(*version);
  }
  if (req) {
    // The requirement's own text parses to the same comparators.
    auto again = VersionReq::Parse(req->text());
    if (!again || again->comparators().size() != req->comparators().size()) __builtin_trap();
  }
  return 0;
}
