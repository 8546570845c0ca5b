#include "resolver/semver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace webcfs::resolver {
namespace {

Version V(const char* text) {
  auto v = Version::Parse(text);
  EXPECT_TRUE(v.ok()) << text << ": " << (v ? "" : v.error().message());
  return v ? *v : Version{};
}

bool Match(const char* req, const char* version) {
  auto r = VersionReq::Parse(req);
  EXPECT_TRUE(r.ok()) << req << ": " << (r ? "" : r.error().message());
  return r && r->Matches(V(version));
}

TEST(VersionTest, ParsesAndPrints) {
  Version v = V("1.22.333-beta.2+build.7");
  EXPECT_EQ(v.major, 1u);
  EXPECT_EQ(v.minor, 22u);
  EXPECT_EQ(v.patch, 333u);
  EXPECT_EQ(v.pre, (std::vector<std::string>{"beta", "2"}));
  EXPECT_EQ(v.build, "build.7");
  EXPECT_EQ(v.ToString(), "1.22.333-beta.2+build.7");
  EXPECT_EQ(V("0.0.0").ToString(), "0.0.0");
  EXPECT_EQ(V("18446744073709551615.0.0").major, UINT64_MAX);
}

TEST(VersionTest, RejectsMalformedWithClearErrors) {
  struct Case {
    const char* text;
    const char* needle;
  } cases[] = {
      {"1.2", "expected major.minor.patch"},
      {"1.2.3.4", "expected major.minor.patch"},
      {"01.2.3", "leading zero"},
      {"1.2.x", "not a number"},
      {"1.2.3-", "empty identifier"},
      {"1.2.3-a..b", "empty identifier"},
      {"1.2.3-01", "leading zero"},
      {"1.2.3-a_b", "characters other than"},
      {"1.2.3+", "empty identifier"},
      {"18446744073709551616.0.0", "too large"},
      {"", "expected major.minor.patch"},
      {"v1.2.3", "not a number"},
  };
  for (const auto& c : cases) {
    auto v = Version::Parse(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.error().code(), Error::Code::kInvalidArgument);
    EXPECT_NE(v.error().message().find(c.needle), std::string::npos)
        << c.text << " -> " << v.error().message();
    EXPECT_NE(v.error().message().find(std::string("'") + c.text + "'"), std::string::npos)
        << "error should quote the input: " << v.error().message();
  }
}

TEST(VersionTest, PrereleaseOrderingFollowsSemverSpec) {
  // The example chain of semver.org §11, plus numeric-vs-lexical traps.
  std::vector<const char*> ordered = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                      "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                      "1.0.0-rc.1",  "1.0.0",         "1.0.1-0",
                                      "1.0.1-9",     "1.0.1-10",      "1.0.1-A",
                                      "1.0.1-a",     "1.0.1",         "1.2.0",
                                      "1.10.0",      "2.0.0-rc.1",    "2.0.0",
                                      "10.0.0"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_LT(V(ordered[i]), V(ordered[i + 1])) << ordered[i] << " < " << ordered[i + 1];
    EXPECT_GT(V(ordered[i + 1]), V(ordered[i]));
  }
  // Sorting a shuffled copy gives the same chain.
  std::vector<Version> shuffled;
  for (const char* s : ordered) shuffled.push_back(V(s));
  std::mt19937 rng(42);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  std::sort(shuffled.begin(), shuffled.end());
  for (size_t i = 0; i < ordered.size(); ++i) EXPECT_EQ(shuffled[i].ToString(), ordered[i]);
}

TEST(VersionTest, BuildMetadataIsIgnoredByOrdering) {
  EXPECT_EQ(V("1.0.0+a"), V("1.0.0+b"));
  EXPECT_EQ(V("1.0.0+a") <=> V("1.0.0"), std::strong_ordering::equal);
}

TEST(VersionReqTest, BareVersionIsCaret) {
  EXPECT_TRUE(Match("1.2.3", "1.2.3"));
  EXPECT_TRUE(Match("1.2.3", "1.9.0"));
  EXPECT_FALSE(Match("1.2.3", "2.0.0"));
  EXPECT_FALSE(Match("1.2.3", "1.2.2"));
  EXPECT_TRUE(Match("0.2.3", "0.2.9"));
  EXPECT_FALSE(Match("0.2.3", "0.3.0"));
  EXPECT_TRUE(Match("0.0.3", "0.0.3"));
  EXPECT_FALSE(Match("0.0.3", "0.0.4"));
  EXPECT_TRUE(Match("1", "1.99.0"));
  EXPECT_FALSE(Match("1", "2.0.0"));
}

TEST(VersionReqTest, Caret) {
  EXPECT_TRUE(Match("^1.2.3", "1.2.3"));
  EXPECT_TRUE(Match("^1.2.3", "1.3.0"));
  EXPECT_FALSE(Match("^1.2.3", "2.0.0"));
  EXPECT_TRUE(Match("^1.2", "1.2.0"));
  EXPECT_FALSE(Match("^1.2", "1.1.9"));
  EXPECT_TRUE(Match("^0.2", "0.2.7"));
  EXPECT_FALSE(Match("^0.2", "0.3.0"));
  EXPECT_TRUE(Match("^0.0", "0.0.9"));
  EXPECT_FALSE(Match("^0.0", "0.1.0"));
  EXPECT_TRUE(Match("^0", "0.9.9"));
  EXPECT_FALSE(Match("^0", "1.0.0"));
  EXPECT_TRUE(Match("^0.0.3", "0.0.3"));
  EXPECT_FALSE(Match("^0.0.3", "0.0.4"));
}

TEST(VersionReqTest, Tilde) {
  EXPECT_TRUE(Match("~1.2.3", "1.2.3"));
  EXPECT_TRUE(Match("~1.2.3", "1.2.9"));
  EXPECT_FALSE(Match("~1.2.3", "1.3.0"));
  EXPECT_FALSE(Match("~1.2.3", "1.2.2"));
  EXPECT_TRUE(Match("~1.2", "1.2.0"));
  EXPECT_FALSE(Match("~1.2", "1.3.0"));
  EXPECT_TRUE(Match("~1", "1.9.0"));
  EXPECT_FALSE(Match("~1", "2.0.0"));
}

TEST(VersionReqTest, ExactAndComparisons) {
  EXPECT_TRUE(Match("=1.2.3", "1.2.3"));
  EXPECT_FALSE(Match("=1.2.3", "1.2.4"));
  EXPECT_TRUE(Match("=1.2", "1.2.9"));
  EXPECT_FALSE(Match("=1.2", "1.3.0"));
  EXPECT_TRUE(Match(">1.2.3", "1.2.4"));
  EXPECT_FALSE(Match(">1.2.3", "1.2.3"));
  EXPECT_TRUE(Match(">1.2", "1.3.0"));
  EXPECT_FALSE(Match(">1.2", "1.2.9"));
  EXPECT_TRUE(Match(">=1.2.3", "1.2.3"));
  EXPECT_FALSE(Match(">=1.2.3", "1.2.2"));
  EXPECT_TRUE(Match("<1.2.3", "1.2.2"));
  EXPECT_FALSE(Match("<1.2.3", "1.2.3"));
  EXPECT_TRUE(Match("<=1.2.3", "1.2.3"));
  EXPECT_FALSE(Match("<=1.2.3", "1.2.4"));
  EXPECT_TRUE(Match("<=1.2", "1.2.9"));
  EXPECT_FALSE(Match("<=1.2", "1.3.0"));
  EXPECT_TRUE(Match(">= 1.2 , < 1.5", "1.4.9"));
}

TEST(VersionReqTest, CommaJoinedRange) {
  EXPECT_TRUE(Match(">1.1,<1.3", "1.2.0"));
  EXPECT_FALSE(Match(">1.1,<1.3", "1.1.5"));
  EXPECT_FALSE(Match(">1.1,<1.3", "1.3.0"));
  EXPECT_TRUE(Match("^1.0.0, >=1.2.0", "1.5.0"));
  EXPECT_FALSE(Match("^1.0.0, >=1.2.0", "1.1.0"));
}

TEST(VersionReqTest, AnyLatestAndWildcards) {
  for (const char* any : {"", "*", "latest", "  "}) {
    auto r = VersionReq::Parse(any);
    ASSERT_TRUE(r.ok()) << any;
    EXPECT_TRUE(r->is_any());
    EXPECT_TRUE(r->Matches(V("0.0.1")));
    EXPECT_TRUE(r->Matches(V("99.0.0")));
    EXPECT_FALSE(r->Matches(V("1.0.0-rc.1"))) << "any excludes pre-releases";
  }
  EXPECT_TRUE(Match("1.*", "1.7.0"));
  EXPECT_FALSE(Match("1.*", "2.0.0"));
  EXPECT_TRUE(Match("1.2.x", "1.2.5"));
  EXPECT_FALSE(Match("1.2.X", "1.3.0"));
}

TEST(VersionReqTest, PrereleasesOnlyWhenOptedInForTheSameTriple) {
  EXPECT_FALSE(Match("^1.0.0", "1.1.0-rc.1"));
  EXPECT_FALSE(Match(">=1.0.0", "2.0.0-rc.1"));
  EXPECT_TRUE(Match(">=1.0.0-beta.2", "1.0.0-beta.11"));
  EXPECT_FALSE(Match(">=1.0.0-beta.2", "1.0.0-beta.1"));
  EXPECT_TRUE(Match(">=1.0.0-beta.2", "1.0.0"));
  EXPECT_FALSE(Match(">=1.0.0-beta.2", "1.0.1-alpha")) << "other triple's pre-release";
  EXPECT_TRUE(Match("=1.0.0-beta.2", "1.0.0-beta.2"));
  EXPECT_FALSE(Match("=1.0.0-beta.2", "1.0.0-beta.11"));
  EXPECT_TRUE(Match("^1.0.0-alpha", "1.0.0-alpha.1"));
  EXPECT_TRUE(Match("^1.0.0-alpha", "1.5.0"));
  EXPECT_TRUE(Match("~1.2.3-rc.1", "1.2.3-rc.2"));
}

TEST(VersionReqTest, RejectsMalformedWithClearErrors) {
  struct Case {
    const char* text;
    const char* needle;
  } cases[] = {
      {">=", "operator without a version"},
      {"^", "operator without a version"},
      {">=1.2 <1.5", "join comparators with ','"},
      {"1.2,,1.3", "empty comparator"},
      {"1 || 2", "'||' alternatives are not supported"},
      {"1.2.3.4", "more than three version parts"},
      {"1.x.3", "a number cannot follow a wildcard"},
      {">=*", "a wildcard cannot follow an operator"},
      {"*, 1.0", "cannot be combined"},
      {"1.2-beta", "needs major.minor.patch"},
      {"abc", "not a number"},
      {"01.2", "leading zero"},
      {"latest, 1.0", "not a number"},
  };
  for (const auto& c : cases) {
    auto r = VersionReq::Parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().code(), Error::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << c.text << " -> " << r.error().message();
  }
  EXPECT_FALSE(VersionReq::Parse(std::string(2000, '1')).ok());
}

TEST(VersionReqTest, ExactFactoryPinsOneVersion) {
  VersionReq r = VersionReq::Exact(V("1.0.0-rc.1+meta"));
  EXPECT_EQ(r.text(), "=1.0.0-rc.1");
  EXPECT_TRUE(r.Matches(V("1.0.0-rc.1")));
  EXPECT_FALSE(r.Matches(V("1.0.0")));
  EXPECT_FALSE(r.Matches(V("1.0.0-rc.2")));
}

}  // namespace
}  // namespace webcfs::resolver
