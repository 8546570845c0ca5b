#include "resolver/semver.h"

#include <algorithm>
#include <cctype>

#include "resolver/quote.h"

namespace webcfs::resolver {
namespace {

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsIdentifierChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

// A numeric version part: digits, no leading zero, fits in 64 bits.
Result<uint64_t> ParseNumber(std::string_view s, std::string_view what) {
  if (!IsDigits(s))
    return Error::InvalidArgument(std::string(what) + " " + Quote(s) + " is not a number");
  if (s.size() > 1 && s[0] == '0') {
    return Error::InvalidArgument(std::string(what) + " " + Quote(s) + " has a leading zero");
  }
  uint64_t v = 0;
  for (char c : s) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) {
      return Error::InvalidArgument(std::string(what) + " " + Quote(s) + " is too large");
    }
    v = v * 10 + digit;
  }
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Dot-separated identifiers of a pre-release (numeric ones without leading
// zeros) or of build metadata (any alphanumerics).
Result<std::vector<std::string>> ParseIdentifiers(std::string_view s, bool pre) {
  std::vector<std::string> ids;
  const char* what = pre ? "pre-release" : "build metadata";
  for (std::string_view id : Split(s, '.')) {
    if (id.empty()) return Error::InvalidArgument(std::string(what) + " has an empty identifier");
    if (!std::all_of(id.begin(), id.end(), IsIdentifierChar)) {
      return Error::InvalidArgument(std::string(what) + " identifier " + Quote(id) +
                                    " has characters other than [0-9A-Za-z-]");
    }
    if (pre && IsDigits(id) && id.size() > 1 && id[0] == '0') {
      return Error::InvalidArgument("pre-release identifier " + Quote(id) + " has a leading zero");
    }
    ids.emplace_back(id);
  }
  return ids;
}

int CompareIdentifier(const std::string& a, const std::string& b) {
  bool an = IsDigits(a);
  bool bn = IsDigits(b);
  if (an && bn) {
    // No leading zeros (checked at parse), so longer means larger.
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
  }
  if (an != bn) return an ? -1 : 1;  // numeric identifiers sort first
  int c = a.compare(b);
  return c < 0 ? -1 : (c == 0 ? 0 : 1);
}

// Pre-release precedence: an empty list (a release) sorts after any pre-release.
int ComparePre(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) {
    if (a.empty() && b.empty()) return 0;
    return a.empty() ? 1 : -1;
  }
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    int c = CompareIdentifier(a[i], b[i]);
    if (c != 0) return c;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsWildcard(std::string_view s) { return s == "*" || s == "x" || s == "X"; }

// Parses one comparator; `any` is set for a lone `*` (which adds no comparator).
Result<std::optional<Comparator>> ParseComparator(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return Error::InvalidArgument("empty comparator");
  Comparator c;
  bool has_op = true;
  if (s.starts_with(">=")) {
    c.op = Comparator::Op::kGreaterEq;
    s.remove_prefix(2);
  } else if (s.starts_with("<=")) {
    c.op = Comparator::Op::kLessEq;
    s.remove_prefix(2);
  } else if (s.starts_with('>')) {
    c.op = Comparator::Op::kGreater;
    s.remove_prefix(1);
  } else if (s.starts_with('<')) {
    c.op = Comparator::Op::kLess;
    s.remove_prefix(1);
  } else if (s.starts_with('=')) {
    c.op = Comparator::Op::kExact;
    s.remove_prefix(1);
  } else if (s.starts_with('~')) {
    c.op = Comparator::Op::kTilde;
    s.remove_prefix(1);
  } else if (s.starts_with('^')) {
    c.op = Comparator::Op::kCaret;
    s.remove_prefix(1);
  } else {
    has_op = false;
  }
  s = Trim(s);
  if (s.empty()) return Error::InvalidArgument(Quote(text) + ": operator without a version");
  if (size_t space = s.find_first_of(" \t"); space != std::string_view::npos) {
    return Error::InvalidArgument(Quote(text) + ": unexpected " + Quote(Trim(s.substr(space))) +
                                  " (join comparators with ',')");
  }
  if (s == "*" || s == "x" || s == "X") {
    if (has_op)
      return Error::InvalidArgument(Quote(text) + ": a wildcard cannot follow an operator");
    return std::optional<Comparator>();
  }

  // Build metadata is allowed and ignored, as in Cargo.
  if (size_t plus = s.find('+'); plus != std::string_view::npos) {
    auto build = ParseIdentifiers(s.substr(plus + 1), false);
    if (!build) return std::move(build).error().With(Quote(text));
    s = s.substr(0, plus);
  }
  std::string_view pre_text;
  bool has_pre = false;
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    pre_text = s.substr(dash + 1);
    has_pre = true;
    s = s.substr(0, dash);
  }
  std::vector<std::string_view> parts = Split(s, '.');
  if (parts.size() > 3)
    return Error::InvalidArgument(Quote(text) + ": more than three version parts");
  bool wildcard = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    static constexpr const char* kNames[] = {"major version", "minor version", "patch version"};
    if (IsWildcard(parts[i])) {
      if (i == 0)
        return Error::InvalidArgument(Quote(text) + ": wildcard major version with other parts");
      wildcard = true;
      continue;
    }
    if (wildcard) {
      return Error::InvalidArgument(Quote(text) + ": a number cannot follow a wildcard");
    }
    auto n = ParseNumber(parts[i], kNames[i]);
    if (!n) return std::move(n).error().With(Quote(text));
    if (i == 0) c.major = *n;
    if (i == 1) c.minor = *n;
    if (i == 2) c.patch = *n;
  }
  if (has_pre) {
    if (!c.patch) {
      return Error::InvalidArgument(Quote(text) + ": a pre-release needs major.minor.patch");
    }
    auto pre = ParseIdentifiers(pre_text, true);
    if (!pre) return std::move(pre).error().With(Quote(text));
    c.pre = std::move(*pre);
  }
  if (wildcard && !has_op) c.op = Comparator::Op::kWildcard;
  return std::optional<Comparator>(std::move(c));
}

bool MatchesExact(const Comparator& c, const Version& v) {
  if (v.major != c.major) return false;
  if (c.minor && v.minor != *c.minor) return false;
  if (c.patch && v.patch != *c.patch) return false;
  return ComparePre(v.pre, c.pre) == 0;
}

bool MatchesGreater(const Comparator& c, const Version& v) {
  if (v.major != c.major) return v.major > c.major;
  if (!c.minor) return false;
  if (v.minor != *c.minor) return v.minor > *c.minor;
  if (!c.patch) return false;
  if (v.patch != *c.patch) return v.patch > *c.patch;
  return ComparePre(v.pre, c.pre) > 0;
}

bool MatchesLess(const Comparator& c, const Version& v) {
  if (v.major != c.major) return v.major < c.major;
  if (!c.minor) return false;
  if (v.minor != *c.minor) return v.minor < *c.minor;
  if (!c.patch) return false;
  if (v.patch != *c.patch) return v.patch < *c.patch;
  return ComparePre(v.pre, c.pre) < 0;
}

bool MatchesTilde(const Comparator& c, const Version& v) {
  if (v.major != c.major) return false;
  if (c.minor && v.minor != *c.minor) return false;
  if (c.patch && v.patch != *c.patch) return v.patch > *c.patch;
  return ComparePre(v.pre, c.pre) >= 0;
}

// ^1.2.3 := >=1.2.3 <2.0.0; ^0.2.3 := >=0.2.3 <0.3.0; ^0.0.3 := =0.0.3;
// ^1.2 := >=1.2.0 <2.0.0; ^0.0 := >=0.0.0 <0.1.0; ^1 and ^0 := the major.
bool MatchesCaret(const Comparator& c, const Version& v) {
  if (v.major != c.major) return false;
  if (!c.minor) return true;
  uint64_t minor = *c.minor;
  if (!c.patch) return c.major > 0 ? v.minor >= minor : v.minor == minor;
  uint64_t patch = *c.patch;
  if (c.major > 0) {
    if (v.minor != minor) return v.minor > minor;
    if (v.patch != patch) return v.patch > patch;
  } else if (minor > 0) {
    if (v.minor != minor) return false;
    if (v.patch != patch) return v.patch > patch;
  } else if (v.minor != minor || v.patch != patch) {
    return false;
  }
  return ComparePre(v.pre, c.pre) >= 0;
}

}  // namespace

Result<Version> Version::Parse(std::string_view text) {
  if (text.size() > kMaxVersionTextLength) return Error::InvalidArgument("version text too long");
  std::string_view s = text;
  Version v;
  if (size_t plus = s.find('+'); plus != std::string_view::npos) {
    auto build = ParseIdentifiers(s.substr(plus + 1), false);
    if (!build) return std::move(build).error().With("version " + Quote(text));
    v.build = std::string(s.substr(plus + 1));
    s = s.substr(0, plus);
  }
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    auto pre = ParseIdentifiers(s.substr(dash + 1), true);
    if (!pre) return std::move(pre).error().With("version " + Quote(text));
    v.pre = std::move(*pre);
    s = s.substr(0, dash);
  }
  std::vector<std::string_view> parts = Split(s, '.');
  if (parts.size() != 3) {
    return Error::InvalidArgument("version " + Quote(text) + ": expected major.minor.patch");
  }
  auto major = ParseNumber(parts[0], "major version");
  if (!major) return std::move(major).error().With("version " + Quote(text));
  auto minor = ParseNumber(parts[1], "minor version");
  if (!minor) return std::move(minor).error().With("version " + Quote(text));
  auto patch = ParseNumber(parts[2], "patch version");
  if (!patch) return std::move(patch).error().With("version " + Quote(text));
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  return v;
}

std::string Version::ToString() const {
  std::string s = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (size_t i = 0; i < pre.size(); ++i) s += (i == 0 ? "-" : ".") + pre[i];
  if (!build.empty()) s += "+" + build;
  return s;
}

std::strong_ordering operator<=>(const Version& a, const Version& b) {
  if (a.major != b.major) return a.major <=> b.major;
  if (a.minor != b.minor) return a.minor <=> b.minor;
  if (a.patch != b.patch) return a.patch <=> b.patch;
  return ComparePre(a.pre, b.pre) <=> 0;
}

bool operator==(const Version& a, const Version& b) { return (a <=> b) == 0; }

bool Comparator::Matches(const Version& v) const {
  switch (op) {
    case Op::kExact:
    case Op::kWildcard:
      return MatchesExact(*this, v);
    case Op::kGreater:
      return MatchesGreater(*this, v);
    case Op::kGreaterEq:
      return MatchesExact(*this, v) || MatchesGreater(*this, v);
    case Op::kLess:
      return MatchesLess(*this, v);
    case Op::kLessEq:
      return MatchesExact(*this, v) || MatchesLess(*this, v);
    case Op::kTilde:
      return MatchesTilde(*this, v);
    case Op::kCaret:
      return MatchesCaret(*this, v);
  }
  return false;
}

Result<VersionReq> VersionReq::Parse(std::string_view text) {
  if (text.size() > kMaxVersionTextLength) {
    return Error::InvalidArgument("version requirement too long");
  }
  std::string_view s = Trim(text);
  VersionReq req;
  if (s.empty() || s == "*" || s == "latest") return req;
  if (s.find("||") != std::string_view::npos) {
    return Error::InvalidArgument("version requirement " + Quote(s) +
                                  ": '||' alternatives are not supported");
  }
  for (std::string_view piece : Split(s, ',')) {
    auto c = ParseComparator(piece);
    if (!c) return std::move(c).error().With("version requirement " + Quote(s));
    if (*c) {
      req.comparators_.push_back(std::move(**c));
    } else if (Split(s, ',').size() > 1) {
      return Error::InvalidArgument("version requirement " + Quote(s) +
                                    ": '*' cannot be combined with other comparators");
    }
  }
  req.text_ = std::string(s);
  return req;
}

VersionReq VersionReq::Exact(const Version& v) {
  VersionReq req;
  Comparator c;
  c.op = Comparator::Op::kExact;
  c.major = v.major;
  c.minor = v.minor;
  c.patch = v.patch;
  c.pre = v.pre;
  req.comparators_.push_back(std::move(c));
  Version shown = v;
  shown.build.clear();
  req.text_ = "=" + shown.ToString();
  return req;
}

bool VersionReq::Matches(const Version& v) const {
  for (const Comparator& c : comparators_) {
    if (!c.Matches(v)) return false;
  }
  if (!v.is_prerelease()) return true;
  // A pre-release is only eligible when a comparator opts in to pre-releases
  // of the same major.minor.patch (Cargo's rule, so `^1` never picks 2.0.0-rc).
  for (const Comparator& c : comparators_) {
    if (c.major == v.major && c.minor == v.minor && c.patch == v.patch && !c.pre.empty()) {
      return true;
    }
  }
  return false;
}

}  // namespace webcfs::resolver
