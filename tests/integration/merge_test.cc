// Merge semantics through a real mount of a resolved package tree (a
// directory registry with dependencies), checked with ordinary syscalls.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

PackageBuilder Named(const std::string& name, const std::string& version = "1.0.0") {
  PackageBuilder p;
  p.name = name;
  p.version = version;
  return p;
}

class MergeTest : public ::testing::Test {
 protected:
  void Add(const PackageBuilder& p) { ASSERT_EQ(WriteToRegistry(p, registry_.path()), ""); }
  std::map<std::string, TreeEntry> Tree(const Mount& m) { return WalkTree(m.path(), {".webc"}); }
  static TreeEntry D() { return {'d', 0, ""}; }
  static TreeEntry F(const std::string& contents) {
    return {'f', contents.size(), Sha256Hex(contents)};
  }
  std::vector<std::string> Args() { return {"--registry", registry_.path()}; }

  TempDir registry_{"fuse-it-merge"};
};

TEST_F(MergeTest, NestedMountsDeepestWins) {
  PackageBuilder py = Named("t/python");
  py.Volume("/lib", Dir({{"os.py", File("os")}})).Fs("/lib/python3.10", "/lib");
  Add(py);
  PackageBuilder app = Named("t/app");
  app.use["python"] = "t/python@1";
  app.Volume("/lib",
             Dir({{"libc.so", File("libc")}, {"python3.10", Dir({{"hidden.py", File("h")}})}}))
      .Fs("/lib", "/lib");
  Add(app);
  Mount m("t/app@1.0.0", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(Tree(m), (std::map<std::string, TreeEntry>{{"lib", D()},
                                                       {"lib/libc.so", F("libc")},
                                                       {"lib/python3.10", D()},
                                                       {"lib/python3.10/os.py", F("os")}}));
  struct stat st;
  ASSERT_EQ(stat((m / "lib").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);
}

// The first mount of a package checks its whole tree and records that in the
// cache (accepted/); a later mount reads each directory only when it is first
// listed. Both must show the same merged tree, link counts included.
TEST_F(MergeTest, LaterMountsReadDirectoriesLazilyAndShowTheSameTree) {
  PackageBuilder dep = Named("t/dep");
  dep.Volume("/v", Dir({{"bin", Dir({{"tool", File("dep-tool")}, {"shared", File("dep")}})},
                        {"lib", Dir({{"deep", Dir({{"x", File("x")}})}})},
                        {"dep-only", File("d")}}))
      .Fs("/", "/v")
      .Fs("/srv/dep", "/v");
  Add(dep);
  PackageBuilder app = Named("t/app");
  app.use["dep"] = "t/dep@1";
  app.Volume("/v", Dir({{"bin", Dir({{"app", File("app")}, {"shared", File("app")}})},
                        {"lib", File("a file hides the directory below")},
                        {"app-only", File("a")}}))
      .Fs("/", "/v");
  Add(app);
  TempDir cache("fuse-it-cache");
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--cache", cache.path()});
  std::map<std::string, TreeEntry> first_tree;
  std::vector<nlink_t> first_links;
  for (int round = 0; round < 2; ++round) {
    Mount m("t/app@1.0.0", args);
    ASSERT_TRUE(m.ok()) << m.result().err;
    std::vector<nlink_t> links;
    for (const char* dir : {"", "bin", "srv", "srv/dep", "srv/dep/lib"}) {
      struct stat st;
      ASSERT_EQ(stat((m / dir).c_str(), &st), 0) << dir;
      links.push_back(st.st_nlink);
    }
    if (round == 0) {
      first_tree = Tree(m);
      first_links = links;
      EXPECT_EQ(first_tree.at("lib"), F("a file hides the directory below"));
      EXPECT_EQ(first_tree.at("srv/dep/lib/deep/x"), F("x"));
      EXPECT_EQ(first_tree.at("bin/tool"), F("dep-tool"));
      EXPECT_EQ(links, (std::vector<nlink_t>{2 + 3, 2, 3, 2 + 2, 3}));  // root: bin, srv, .webc
      // Both packages were checked in full, and that is now on record.
      EXPECT_EQ(std::distance(std::filesystem::directory_iterator(cache / "accepted"),
                              std::filesystem::directory_iterator()),
                2);
    } else {
      EXPECT_EQ(Tree(m), first_tree);
      EXPECT_EQ(links, first_links);
    }
  }
}

TEST_F(MergeTest, TwoPackagesAtOneMountPoint) {
  PackageBuilder dep = Named("t/dep");
  dep.Volume("/v", Dir({{"bin", Dir({{"tool", File("dep-tool")}, {"shared", File("dep")}})},
                        {"dep-only", File("d")}}))
      .Fs("/", "/v");
  Add(dep);
  PackageBuilder app = Named("t/app");
  app.use["dep"] = "t/dep@1";
  app.Volume("/v", Dir({{"bin", Dir({{"app", File("app")}, {"shared", File("app")}})},
                        {"app-only", File("a")}}))
      .Fs("/", "/v");
  Add(app);
  Mount m("t/app@1.0.0", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  // Union listings; the root package (earliest in precedence) wins a clash.
  EXPECT_EQ(Tree(m), (std::map<std::string, TreeEntry>{{"app-only", F("a")},
                                                       {"bin", D()},
                                                       {"bin/app", F("app")},
                                                       {"bin/shared", F("app")},
                                                       {"bin/tool", F("dep-tool")},
                                                       {"dep-only", F("d")}}));
}

TEST_F(MergeTest, LaterDeclaredDependencyWinsOverEarlier) {
  // Precedence (docs/architecture.md, Resolution step 5): root, then the later-declared
  // dependency's subtree before the earlier one's.
  PackageBuilder first = Named("t/first");
  first.Volume("/v", Dir({{"who", File("first")}, {"first-only", File("1")}})).Fs("/", "/v");
  Add(first);
  PackageBuilder second = Named("t/second");
  second.Volume("/v", Dir({{"who", File("second")}})).Fs("/", "/v");
  Add(second);
  PackageBuilder app = Named("t/app");
  app.use["first"] = "t/first@1";
  app.use["second"] = "t/second@1";
  Add(app);
  Mount m("t/app@1.0.0", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / "who"), "second");
  EXPECT_EQ(ReadHostFile(m / "first-only"), "1");
}

TEST_F(MergeTest, DependencyVolumeViaFrom) {
  PackageBuilder web = Named("t/web");
  web.Volume("/public", Dir({{"index.html", File("<h1>hi</h1>")}}));  // web mounts nothing itself
  Add(web);
  PackageBuilder app = Named("t/app");
  app.use["site"] = "t/web@1";
  app.Fs("/srv/www", "/public", "site");
  Add(app);
  Mount m("t/app@1.0.0", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(Tree(m),
            (std::map<std::string, TreeEntry>{
                {"srv", D()}, {"srv/www", D()}, {"srv/www/index.html", F("<h1>hi</h1>")}}));
}

TEST_F(MergeTest, SyntheticParentsAndShadowing) {
  PackageBuilder dep = Named("t/etc");
  dep.Volume("/etc", Dir({{"hosts", File("127.0.0.1 localhost\n")}})).Fs("/etc", "/etc");
  dep.Volume("/deep", Dir({{"leaf", File("leaf")}})).Fs("/opt/a/b", "/deep");
  Add(dep);
  PackageBuilder app = Named("t/app");
  app.use["etc"] = "t/etc@1";
  // "etc" is a file here, shadowed by the dependency's mount point.
  app.Volume("/v", Dir({{"etc", File("a file")}, {"readme", File("r")}})).Fs("/", "/v");
  Add(app);
  Mount m("t/app@1.0.0", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(Tree(m), (std::map<std::string, TreeEntry>{{"etc", D()},
                                                       {"etc/hosts", F("127.0.0.1 localhost\n")},
                                                       {"opt", D()},
                                                       {"opt/a", D()},
                                                       {"opt/a/b", D()},
                                                       {"opt/a/b/leaf", F("leaf")},
                                                       {"readme", F("r")}}));
  struct stat st;
  ASSERT_EQ(stat((m / "opt/a").c_str(), &st), 0);  // synthetic
  EXPECT_EQ(st.st_mode, S_IFDIR | 0555);
  EXPECT_EQ(st.st_nlink, 3u);
}

TEST_F(MergeTest, V2OriginalPath) {
  // synth-v2demo maps volume "atom" sub-tree /assets at /assets (original_path).
  Mount m(FixturePath("synth-v2demo.webc"));
  ASSERT_TRUE(m.ok()) << m.result().err;
  std::string deep;
  for (int i = 0; i < 768; ++i) deep.push_back(static_cast<char>(i % 256));
  EXPECT_EQ(Tree(m), (std::map<std::string, TreeEntry>{{"assets", D()},
                                                       {"assets/nested", D()},
                                                       {"assets/nested/deep.bin", F(deep)},
                                                       {"assets/nested/empty.txt", F("")},
                                                       {"assets/readme.txt", F("hello v2\n")},
                                                       {"assets/zz-dir", D()}}));
}

}  // namespace
}  // namespace webcfs::testing
