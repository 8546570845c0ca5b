// The graph algorithm against an in-memory PackageSource: every scenario is a few
// lines. End-to-end versions with real containers live in resolve_test.cc.
#include "resolver/graph.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "resolver/specifier.h"

namespace webcfs::resolver {
namespace {

class FakePackageSource : public PackageSource {
 public:
  // Adds "ns/name@version" with `uses` as (alias, specifier) pairs.
  Candidate& Add(const std::string& id,
                 std::vector<std::pair<std::string, std::string>> uses = {}) {
    Candidate c;
    c.id = id;
    c.handle = packages_.size();
    size_t at = id.find('@');
    c.full_name = id.substr(0, at);
    c.version = *Version::Parse(id.substr(at + 1));
    std::vector<webc::Dependency> deps;
    for (auto& [alias, spec] : uses) deps.push_back(webc::Dependency{alias, spec, nullptr});
    packages_.push_back(Entry{c, std::move(deps)});
    return packages_.back().candidate;
  }
  Candidate& AddUnnamed(const std::string& hex) {
    Candidate c;
    c.id = HashId(hex);
    c.handle = packages_.size();
    packages_.push_back(Entry{c, {}});
    return packages_.back().candidate;
  }
  void AddEmbeddedUse(size_t handle, const std::string& alias, const std::string& name,
                      const std::string& version) {
    auto m = std::make_shared<webc::Manifest>();
    m->package_name = name;
    m->package_version = version;
    packages_[handle].uses.push_back(webc::Dependency{alias, std::nullopt, m});
  }
  const Candidate& Get(const std::string& id) const {
    for (const auto& e : packages_) {
      if (e.candidate.id == id) return e.candidate;
    }
    ADD_FAILURE() << "no " << id;
    return packages_.front().candidate;
  }

  Result<std::vector<Candidate>> Versions(std::string_view full_name) override {
    std::vector<Candidate> out;
    for (const auto& e : packages_) {
      if (e.candidate.full_name == full_name) out.push_back(e.candidate);
    }
    return out;
  }
  Result<Candidate> ByHash(std::string_view hex) override {
    for (const auto& e : packages_) {
      if (e.candidate.id == HashId(hex)) return e.candidate;
    }
    return Error::NotFound("no package with sha256 " + std::string(hex));
  }
  Result<void> Load(std::span<const Candidate> batch) override {
    loads.emplace_back();
    for (const auto& c : batch) loads.back().push_back(c.id);
    return Ok();
  }
  const std::vector<webc::Dependency>& Uses(const Candidate& c) override {
    return packages_[c.handle].uses;
  }

  std::vector<std::vector<std::string>> loads;

 private:
  struct Entry {
    Candidate candidate;
    std::vector<webc::Dependency> uses;
  };
  std::deque<Entry> packages_;
};

std::vector<std::string> Ids(const Graph& g) {
  std::vector<std::string> ids;
  for (const auto& n : g.nodes) ids.push_back(n.package.id);
  return ids;
}

std::vector<std::string> PrecedenceIds(const Graph& g) {
  std::vector<std::string> ids;
  for (size_t i : PrecedenceOrder(g)) ids.push_back(g.nodes[i].package.id);
  return ids;
}

using Strings = std::vector<std::string>;

TEST(GraphTest, ChainIsBreadthFirstAndLoadedLevelByLevel) {
  FakePackageSource source;
  source.Add("t/a@1.0.0", {{"b", "t/b@1"}});
  source.Add("t/b@1.0.0", {{"c", "t/c@1"}});
  source.Add("t/c@1.0.0");
  auto g = BuildGraph(source.Get("t/a@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g), (Strings{"t/a@1.0.0", "t/b@1.0.0", "t/c@1.0.0"}));
  EXPECT_EQ(source.loads, (std::vector<Strings>{{"t/a@1.0.0"}, {"t/b@1.0.0"}, {"t/c@1.0.0"}}));
  ASSERT_EQ(g->nodes[0].edges.size(), 1u);
  EXPECT_EQ(g->nodes[0].edges[0].alias, "b");
  EXPECT_EQ(g->nodes[0].edges[0].requirement, "t/b@1");
  EXPECT_EQ(g->nodes[0].edges[0].target, 1u);
  EXPECT_EQ(PrecedenceIds(*g), (Strings{"t/a@1.0.0", "t/b@1.0.0", "t/c@1.0.0"}));
}

TEST(GraphTest, DiamondSharesOneNodeAndEdgesKeepAliases) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"left", "t/left@1"}, {"right", "t/right@1"}});
  source.Add("t/left@1.0.0", {{"base-l", "t/base@1"}});
  source.Add("t/right@1.0.0", {{"base-r", "t/base@^1.0"}});
  source.Add("t/base@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g), (Strings{"t/root@1.0.0", "t/left@1.0.0", "t/right@1.0.0", "t/base@1.0.0"}));
  EXPECT_EQ(g->nodes[1].edges[0].alias, "base-l");
  EXPECT_EQ(g->nodes[2].edges[0].alias, "base-r");
  EXPECT_EQ(g->nodes[1].edges[0].target, 3u);
  EXPECT_EQ(g->nodes[2].edges[0].target, 3u);
  // Both siblings were loaded together (one parallel batch).
  EXPECT_EQ(source.loads[1], (Strings{"t/left@1.0.0", "t/right@1.0.0"}));
  EXPECT_EQ(PrecedenceIds(*g),
            (Strings{"t/root@1.0.0", "t/right@1.0.0", "t/left@1.0.0", "t/base@1.0.0"}));
}

TEST(GraphTest, PrecedenceIsRootThenLaterDeclaredFirst) {
  // Wasmer's merge_fs_mappings_from_multiple_packages: root, second, first.
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"first", "t/first@=1.0.0"}, {"second", "t/second@=1.0.0"}});
  source.Add("t/first@1.0.0");
  source.Add("t/second@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(PrecedenceIds(*g), (Strings{"t/root@1.0.0", "t/second@1.0.0", "t/first@1.0.0"}));
}

TEST(GraphTest, PrecedenceKeepsSubtreesTogether) {
  // root → a, b; a → a1, a2; b → b1. Reverse post-order of a depth-first walk
  // in manifest order: root, b, b1, a, a2, a1.
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"a", "t/a@1"}, {"b", "t/b@1"}});
  source.Add("t/a@1.0.0", {{"a1", "t/a1@1"}, {"a2", "t/a2@1"}});
  source.Add("t/b@1.0.0", {{"b1", "t/b1@1"}});
  source.Add("t/a1@1.0.0");
  source.Add("t/a2@1.0.0");
  source.Add("t/b1@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g), (Strings{"t/root@1.0.0", "t/a@1.0.0", "t/b@1.0.0", "t/a1@1.0.0", "t/a2@1.0.0",
                              "t/b1@1.0.0"}));
  EXPECT_EQ(PrecedenceIds(*g), (Strings{"t/root@1.0.0", "t/b@1.0.0", "t/b1@1.0.0", "t/a@1.0.0",
                                        "t/a2@1.0.0", "t/a1@1.0.0"}));
}

TEST(GraphTest, SharedDependencyComesAfterEveryDependent) {
  // a → shared, b → shared: shared must come after both a and b.
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"a", "t/a@1"}, {"shared", "t/shared@1"}, {"b", "t/b@1"}});
  source.Add("t/a@1.0.0", {{"s", "t/shared@1"}});
  source.Add("t/b@1.0.0", {{"s", "t/shared@1"}});
  source.Add("t/shared@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(PrecedenceIds(*g),
            (Strings{"t/root@1.0.0", "t/b@1.0.0", "t/a@1.0.0", "t/shared@1.0.0"}));
}

TEST(GraphTest, PicksHighestMatchingVersion) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"dep", "t/dep@^1.0.0"}});
  source.Add("t/dep@1.0.0");
  source.Add("t/dep@1.0.2");
  source.Add("t/dep@1.0.1");
  source.Add("t/dep@2.0.0");
  source.Add("t/dep@1.1.0-rc.1");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->nodes[1].package.id, "t/dep@1.0.2");
}

TEST(GraphTest, PrereleaseOrderingPicksNumericallyHighest) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"dep", "t/dep@>=1.0.0-beta.2, <1.0.0"}});
  source.Add("t/dep@1.0.0-beta.2");
  source.Add("t/dep@1.0.0-beta.11");
  source.Add("t/dep@1.0.0-beta.9");
  source.Add("t/dep@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->nodes[1].package.id, "t/dep@1.0.0-beta.11");
}

TEST(GraphTest, CycleErrorPrintsTheCycle) {
  FakePackageSource source;
  source.Add("t/a@1.0.0", {{"b", "t/b@1"}});
  source.Add("t/b@1.0.0", {{"c", "t/c@1"}});
  source.Add("t/c@1.0.0", {{"a", "t/a@1"}});
  auto g = BuildGraph(source.Get("t/a@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message(),
            "dependency cycle: t/a@1.0.0 \u2192 t/b@1.0.0 \u2192 t/c@1.0.0 \u2192 t/a@1.0.0");
}

TEST(GraphTest, CycleBelowTheRootStartsClosestToTheRoot) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"x", "t/x@1"}});
  source.Add("t/x@1.0.0", {{"y", "t/y@1"}});
  source.Add("t/y@1.0.0", {{"x", "t/x@1"}});
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message(), "dependency cycle: t/x@1.0.0 \u2192 t/y@1.0.0 \u2192 t/x@1.0.0");
}

TEST(GraphTest, SelfDependencyIsACycle) {
  FakePackageSource source;
  source.Add("t/a@1.0.0", {{"me", "t/a@1"}});
  auto g = BuildGraph(source.Get("t/a@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().message(), "dependency cycle: t/a@1.0.0 \u2192 t/a@1.0.0");
}

TEST(GraphTest, MissingDependencyNamesRequirerAliasAndRequirement) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"mid", "t/mid@1"}});
  source.Add("t/mid@1.0.0", {{"gone", "t/gone@^2"}});
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Error::Code::kNotFound);
  EXPECT_EQ(g.error().message(),
            "t/mid@1.0.0: dependency 'gone' (t/gone@^2): no package t/gone in the registries");

  source.Add("t/gone@1.0.0");
  source.Add("t/gone@1.5.0");
  auto g2 = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_FALSE(g2.ok());
  EXPECT_EQ(g2.error().message(),
            "t/mid@1.0.0: dependency 'gone' (t/gone@^2): no version of t/gone matches ^2 "
            "(available: 1.5.0, 1.0.0)");
}

TEST(GraphTest, UnifiableVersionConflictPicksOneVersionForAll) {
  // Wasmer's (ignored) merge_compatible_versions scenario: ^1.0.0 alone picks
  // 1.5.0, >1.1,<1.3 picks 1.2.0; one version satisfying both exists.
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"first", "t/first@=1.0.0"}, {"second", "t/second@=1.0.0"}});
  source.Add("t/first@1.0.0", {{"common", "t/common@^1.0.0"}});
  source.Add("t/second@1.0.0", {{"common", "t/common@>1.1,<1.3"}});
  for (const char* v : {"1.0.0", "1.1.0", "1.2.0", "1.5.0"})
    source.Add(std::string("t/common@") + v);
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g),
            (Strings{"t/root@1.0.0", "t/first@1.0.0", "t/second@1.0.0", "t/common@1.2.0"}));
  EXPECT_EQ(g->nodes[1].edges[0].target, 3u);
  EXPECT_EQ(g->nodes[2].edges[0].target, 3u);
}

TEST(GraphTest, UnificationCanChangeTheSubtree) {
  // The unified version has different dependencies than the first pick.
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"lib", "t/lib@1"}, {"pin", "t/pin@1"}});
  source.Add("t/pin@1.0.0", {{"lib", "t/lib@~1.1"}});
  source.Add("t/lib@1.1.0", {{"extra", "t/extra@1"}});
  source.Add("t/lib@1.4.0", {{"gone", "t/does-not-exist@1"}});
  source.Add("t/extra@1.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g), (Strings{"t/root@1.0.0", "t/lib@1.1.0", "t/pin@1.0.0", "t/extra@1.0.0"}));
}

TEST(GraphTest, NonUnifiableConflictNamesEveryRequirer) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"first", "t/first@1"}, {"second", "t/second@1"}});
  source.Add("t/first@1.0.0", {{"common", "t/common@^1"}});
  source.Add("t/second@1.0.0", {{"c2", "t/common@>=2"}});
  source.Add("t/common@1.0.0");
  source.Add("t/common@2.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Error::Code::kConflict);
  EXPECT_EQ(g.error().message(),
            "conflicting requirements on t/common: t/first@1.0.0 requires t/common@^1 (as "
            "'common'), t/second@1.0.0 requires t/common@>=2 (as 'c2'); no version satisfies all "
            "of them (available: 2.0.0, 1.0.0)");
}

TEST(GraphTest, DependencyOnTheRootNameMustMatchTheRoot) {
  FakePackageSource source;
  source.Add("t/root@1.0.0", {{"dep", "t/dep@1"}});
  source.Add("t/dep@1.0.0", {{"up", "t/root@2"}});
  source.Add("t/root@2.0.0");
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code(), Error::Code::kConflict);
  EXPECT_NE(g.error().message().find("the root package is t/root@1.0.0"), std::string::npos)
      << g.error().message();
}

TEST(GraphTest, HashDependencyAndEmbeddedManifest) {
  const std::string hex(64, 'e');
  FakePackageSource source;
  Candidate& root = source.Add("t/root@1.0.0", {{"blob", "sha256:" + hex}});
  source.AddEmbeddedUse(root.handle, "vendored", "t/vendored", "1.2.0");
  source.AddUnnamed(hex);
  source.Add("t/vendored@1.2.0");
  source.Add("t/vendored@1.3.0");  // an embedded manifest pins its exact version
  auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(Ids(*g), (Strings{"t/root@1.0.0", "sha256:" + hex, "t/vendored@1.2.0"}));
  EXPECT_EQ(g->nodes[0].edges[1].requirement, "<embedded>");
}

TEST(GraphTest, ForbiddenAndUnsupportedUses) {
  struct Case {
    std::string spec;
    Error::Code code;
    const char* needle;
  } cases[] = {
      {"./sibling.webc", Error::Code::kInvalidArgument, "may not depend on a host path"},
      {"/etc/passwd", Error::Code::kInvalidArgument, "may not depend on a host path"},
      {"https://example.org/x.webc", Error::Code::kUnsupported, "remote source"},
      {"other:t/x@1", Error::Code::kUnsupported, "registry 'other' is not available"},
      {"not-a-name", Error::Code::kInvalidArgument, "expected namespace/name"},
      {"sha256:" + std::string(64, 'f'), Error::Code::kNotFound, "no package with sha256"},
  };
  for (const auto& c : cases) {
    FakePackageSource source;
    source.Add("t/root@1.0.0", {{"x", c.spec}});
    auto g = BuildGraph(source.Get("t/root@1.0.0"), source);
    ASSERT_FALSE(g.ok()) << c.spec;
    EXPECT_EQ(g.error().code(), c.code) << c.spec;
    EXPECT_NE(g.error().message().find("t/root@1.0.0: dependency 'x' (" + c.spec + ")"),
              std::string::npos)
        << g.error().message();
    EXPECT_NE(g.error().message().find(c.needle), std::string::npos) << g.error().message();
  }
}

}  // namespace
}  // namespace webcfs::resolver
