// Semantic versions (semver.org 2.0.0) and version requirements with the
// semantics of Rust's `semver` crate, which Wasmer uses for `use` specifiers:
// a bare `1.2.3` means `^1.2.3`; `latest`, `*` and the empty string mean any
// release; a pre-release version only matches a requirement that names a
// pre-release of the same major.minor.patch.
//
// Values are plain data; thread-compatible.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::resolver {

// Specifier and version texts longer than this are refused before parsing.
inline constexpr size_t kMaxVersionTextLength = 1024;

struct Version {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::vector<std::string> pre;  // dot-separated pre-release identifiers, empty = release
  std::string build;             // build metadata after '+'; ignored by ordering

  // Strict semver: three numeric parts without leading zeros, optional
  // `-pre.release` and `+build`. Errors quote the text.
  static Result<Version> Parse(std::string_view text);

  bool is_prerelease() const { return !pre.empty(); }
  std::string ToString() const;  // canonical text, including build metadata
};

// Precedence per semver.org §11: numeric identifiers compare numerically and
// sort before alphanumeric ones; a release sorts after its pre-releases; build
// metadata is ignored.
std::strong_ordering operator<=>(const Version& a, const Version& b);
bool operator==(const Version& a, const Version& b);

// One comparator of a requirement, e.g. `>=1.2`, `~1.2.3-beta`, `1.*`.
struct Comparator {
  enum class Op { kExact, kGreater, kGreaterEq, kLess, kLessEq, kTilde, kCaret, kWildcard };
  Op op = Op::kCaret;
  uint64_t major = 0;
  std::optional<uint64_t> minor;
  std::optional<uint64_t> patch;
  std::vector<std::string> pre;

  bool Matches(const Version& v) const;  // ignores the pre-release gate (see VersionReq)
};

class VersionReq {
 public:
  VersionReq() = default;  // matches any release

  // Comma-joined comparators: `^1.2`, `~1.2.3`, `=1.0.0`, `>1`, `>=1.2, <1.5`,
  // `1.x`, `*`, `latest`, "" (any).
  static Result<VersionReq> Parse(std::string_view text);
  static VersionReq Exact(const Version& v);

  bool Matches(const Version& v) const;
  bool is_any() const { return comparators_.empty(); }
  // The text as given (trimmed), or "*" for any.
  const std::string& text() const { return text_; }
  const std::vector<Comparator>& comparators() const { return comparators_; }

 private:
  std::vector<Comparator> comparators_;
  std::string text_ = "*";
};

}  // namespace webcfs::resolver
