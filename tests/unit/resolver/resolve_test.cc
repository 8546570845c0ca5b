// End to end: packages written with WriteV3 into temp registries, resolved
// through the real registry index, cache and loader.
#include <gtest/gtest.h>

#include "resolver/resolution.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/base/sha256.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

using testing::PackageBuilder;
using testing::ReadHostFile;
using testing::TempDir;
using testing::WriteHostFile;
using Strings = std::vector<std::string>;

class ResolveTest : public ::testing::Test {
 protected:
  std::filesystem::path reg() const { return tmp_ / "registry"; }

  ResolveOptions Options() const { return testing::TestOptions(tmp_.path()); }

  Result<Resolution> Run(const std::string& spec) { return Resolve(spec, Options()); }

  Resolution MustResolve(const std::string& spec, const ResolveOptions& options) {
    return testing::MustResolve(spec, options);
  }
  Resolution MustResolve(const std::string& spec) { return MustResolve(spec, Options()); }

  static Strings Ids(const Resolution& r) { return testing::PackageIds(r); }
  static Strings MountOwners(const Resolution& r) {
    Strings out;
    for (const auto& m : r.mappings) out.push_back(r.packages[m.package].id + " " + m.mount_path);
    return out;
  }
  static const CommandEntry* FindCommand(const Resolution& r, const std::string& name) {
    for (const auto& c : r.commands) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }

  TempDir tmp_;
};

TEST_F(ResolveTest, ChainWithHashesSourcesAndCachedContainers) {
  std::string a = PackageBuilder("t/a", "1.0.0").Use("b", "t/b@^1").WriteTo(reg());
  std::string b = PackageBuilder("t/b", "1.2.0").Use("c", "t/c@1").WriteTo(reg());
  PackageBuilder("t/b", "2.0.0").WriteTo(reg());
  std::string c = PackageBuilder("t/c", "1.0.0").WriteTo(reg());
  Resolution r = MustResolve("t/a");
  ASSERT_EQ(Ids(r), (Strings{"t/a@1.0.0", "t/b@1.2.0", "t/c@1.0.0"}));
  const Strings sources = {a, b, c};
  for (size_t i = 0; i < 3; ++i) {
    const ResolvedPackage& p = r.packages[i];
    EXPECT_EQ(p.source, sources[i]);
    EXPECT_EQ(p.webc_sha256, webc::ToHex(webc::Sha256::Of(ReadHostFile(sources[i]))));
    EXPECT_EQ(p.container_path, (tmp_ / "cache" / (p.webc_sha256 + ".webc")).string());
    ASSERT_NE(p.container, nullptr);
    EXPECT_EQ(p.container->manifest().package_name, p.id.substr(0, 3));
  }
  ASSERT_EQ(r.packages[0].dependencies.size(), 1u);
  EXPECT_EQ(r.packages[0].dependencies[0].alias, "b");
  EXPECT_EQ(r.packages[0].dependencies[0].requirement, "t/b@^1");
  EXPECT_EQ(r.packages[0].dependencies[0].package, 1u);
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(ResolveTest, DiamondSharesOnePackage) {
  PackageBuilder("t/app", "1.0.0").Use("left", "t/left@1").Use("right", "t/right@1").WriteTo(reg());
  PackageBuilder("t/left", "1.0.0").Use("base", "t/base@^1.0").WriteTo(reg());
  PackageBuilder("t/right", "1.0.0").Use("base", "t/base@~1.1").WriteTo(reg());
  PackageBuilder("t/base", "1.1.3").WriteTo(reg());
  PackageBuilder("t/base", "1.4.0").WriteTo(reg());
  Resolution r = MustResolve("t/app@=1.0.0");
  EXPECT_EQ(Ids(r), (Strings{"t/app@1.0.0", "t/right@1.0.0", "t/left@1.0.0", "t/base@1.1.3"}))
      << "unified to the one version both accept";
  EXPECT_EQ(r.packages[1].dependencies[0].package, 3u);
  EXPECT_EQ(r.packages[2].dependencies[0].package, 3u);
}

TEST_F(ResolveTest, MappingsFollowWasmerPrecedenceRootSecondFirst) {
  PackageBuilder("t/root", "1.0.0")
      .Use("first", "t/first@=1.0.0")
      .Use("second", "t/second@=1.0.0")
      .Volume("/root", {{"r.txt", "r"}})
      .Fs("/root", "/root")
      .WriteTo(reg());
  PackageBuilder("t/first", "1.0.0")
      .Volume("/lib", {{"f.txt", "f"}})
      .Fs("/usr/local/lib/first", "/lib")
      .WriteTo(reg());
  PackageBuilder("t/second", "1.0.0")
      .Volume("/lib", {{"s.txt", "s"}})
      .Fs("/usr/local/lib/second", "/lib")
      .WriteTo(reg());
  Resolution r = MustResolve("t/root");
  EXPECT_EQ(MountOwners(r), (Strings{"t/root@1.0.0 /root", "t/second@1.0.0 /usr/local/lib/second",
                                     "t/first@1.0.0 /usr/local/lib/first"}));
  for (const Mapping& m : r.mappings) {
    EXPECT_EQ(m.volume_package, m.package);
    EXPECT_EQ(m.volume_path, "/");
  }
}

TEST_F(ResolveTest, MappingsInManifestOrderWithinAPackage) {
  PackageBuilder("t/root", "1.0.0")
      .Volume("/z", {{"z", "z"}})
      .Volume("/a", {{"a", "a"}})
      .Fs("/zeta", "/z")
      .Fs("/alpha", "/a")
      .Fs("/alpha/again", "/z")
      .WriteTo(reg());
  Resolution r = MustResolve("t/root");
  EXPECT_EQ(MountOwners(r),
            (Strings{"t/root@1.0.0 /zeta", "t/root@1.0.0 /alpha", "t/root@1.0.0 /alpha/again"}));
}

TEST_F(ResolveTest, FromMappingsShareADependencyVolume) {
  PackageBuilder("t/app", "1.0.0")
      .Use("assets", "t/assets@1")
      .Use("tool", "t/tool@1")
      .Fs("/srv/www", "/public", "assets")
      .WriteTo(reg());
  PackageBuilder("t/tool", "1.0.0")
      .Use("shared", "t/assets@1")
      .Fs("/opt/www", "/public", "shared")
      .WriteTo(reg());
  PackageBuilder("t/assets", "1.0.0")
      .Volume("/public", {{"index.html", "<h1>"}})
      .EmptyFs()
      .WriteTo(reg());
  Resolution r = MustResolve("t/app");
  ASSERT_EQ(Ids(r), (Strings{"t/app@1.0.0", "t/tool@1.0.0", "t/assets@1.0.0"}));
  ASSERT_EQ(r.mappings.size(), 2u);
  EXPECT_EQ(r.mappings[0].package, 0u);
  EXPECT_EQ(r.mappings[0].volume_package, 2u);
  EXPECT_EQ(r.mappings[0].volume, "/public");
  EXPECT_EQ(r.mappings[0].mount_path, "/srv/www");
  EXPECT_EQ(r.mappings[1].package, 1u);
  EXPECT_EQ(r.mappings[1].volume_package, 2u);
  EXPECT_EQ(r.mappings[1].mount_path, "/opt/www");
}

TEST_F(ResolveTest, OriginalPathAndNormalization) {
  PackageBuilder("t/app", "1.0.0")
      .Volume("atom", {{"publisher/lib/x.so", "x"}, {"etc/conf", "c"}})
      .Fs("/usr//lib/./", "atom", std::nullopt, "/publisher/lib/")
      .Fs("/etc", "atom", std::nullopt, "etc")
      .Fs("/a/b/../c", "atom")
      .WriteTo(reg());
  Resolution r = MustResolve("t/app");
  ASSERT_EQ(r.mappings.size(), 3u);
  EXPECT_EQ(r.mappings[0].mount_path, "/usr/lib");
  EXPECT_EQ(r.mappings[0].volume_path, "/publisher/lib");
  EXPECT_EQ(r.mappings[1].volume_path, "/etc") << "relative paths count from the volume root";
  EXPECT_EQ(r.mappings[2].mount_path, "/a/c");
  EXPECT_EQ(r.mappings[2].volume_path, "/");
}

TEST_F(ResolveTest, V3WithoutFsMountsNothing) {
  PackageBuilder("t/nofs", "1.0.0").Volume("atom", {{"f", "1"}}).WriteTo(reg());
  PackageBuilder("t/emptyfs", "1.0.0").Volume("atom", {{"f", "1"}}).EmptyFs().WriteTo(reg());
  EXPECT_TRUE(MustResolve("t/nofs").mappings.empty());
  EXPECT_TRUE(MustResolve("t/emptyfs").mappings.empty());
}

TEST_F(ResolveTest, InvalidMappingsNamePackageAndMapping) {
  struct Case {
    PackageBuilder pkg;
    const char* needle;
  };
  auto base = [] {
    return PackageBuilder("t/bad", "1.0.0").Use("dep", "t/dep@1").Volume("/v", {{"d/f", "x"}});
  };
  std::vector<Case> cases = {
      {base().Fs("relative", "/v"),
       "fs mapping 0 (volume '/v' at 'relative'): mount path: path "
       "'relative' is not absolute"},
      {base().Fs("/ok", "/v").Fs("/../etc", "/v"),
       "fs mapping 1 (volume '/v' at '/../etc'): mount path: path '/../etc' escapes its root"},
      {base().Fs("", "/v"), "mount path: path is empty"},
      {base().Fs(std::string("/a\0b", 4), "/v"), "contains a NUL byte"},
      {base().Fs("/x", "/missing"), "volume '/missing' does not exist in t/bad@1.0.0"},
      {base().Fs("/x", "/v", "nope"), "'from' names 'nope', which is not a dependency alias"},
      {base().Fs("/x", "/v", "dep"), "volume '/v' does not exist in t/dep@1.0.0"},
      {base().Fs("/x", "/v", std::nullopt, "/../../etc"),
       "path inside the volume: path '/../../etc' escapes its root"},
      {base().Fs("/x", "/v", std::nullopt, "/nowhere"),
       "path '/nowhere' does not exist in volume '/v' of t/bad@1.0.0"},
      {base().Fs("/x", "/v", std::nullopt, "/d/f"),
       "path '/d/f' in volume '/v' of t/bad@1.0.0 is "
       "not a directory"},
  };
  PackageBuilder("t/dep", "1.0.0").WriteTo(reg());
  for (const Case& c : cases) {
    c.pkg.WriteTo(reg());
    auto r = Run("t/bad");
    ASSERT_FALSE(r.ok()) << c.needle;
    // The package file, then the package and mapping.
    EXPECT_TRUE(r.error().message().starts_with(reg().string() +
                                                "/t--bad@1.0.0.webc: t/bad@1.0.0: fs mapping "))
        << r.error().message();
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos) << r.error().message();
  }
}

TEST_F(ResolveTest, CommandsRootShadowsAndDependencyOrderDecides) {
  PackageBuilder("t/root", "1.0.0")
      .Use("first", "t/first@1")
      .Use("second", "t/second@1")
      .Atom("tool")
      .Command("tool", "tool")
      .WriteTo(reg());
  PackageBuilder("t/first", "1.0.0")
      .Atom("tool")
      .Atom("shared")
      .Atom("only-first")
      .Command("tool", "tool")
      .Command("shared", "shared")
      .Command("only-first", "only-first")
      .WriteTo(reg());
  PackageBuilder("t/second", "1.0.0").Atom("shared").Command("shared", "shared").WriteTo(reg());
  Resolution r = MustResolve("t/root");
  ASSERT_EQ(Ids(r), (Strings{"t/root@1.0.0", "t/second@1.0.0", "t/first@1.0.0"}));
  Strings names;
  for (const auto& c : r.commands) names.push_back(c.name + "@" + r.packages[c.package].id);
  EXPECT_EQ(names,
            (Strings{"tool@t/root@1.0.0", "shared@t/second@1.0.0", "only-first@t/first@1.0.0"}));
  const CommandEntry* only = FindCommand(r, "only-first");
  ASSERT_NE(only, nullptr);
  EXPECT_EQ(only->atom, "only-first");
  EXPECT_EQ(only->atom_package, 2u);
  EXPECT_EQ(only->runner, testing::kWasiRunner);
}

TEST_F(ResolveTest, CommandAtomRules) {
  PackageBuilder("t/app", "1.0.0")
      .Use("lib", "t/lib@1")
      .Atom("zeta")
      .Atom("alpha")
      // atom annotation naming a dependency's atom
      .Command("dep-cmd", "engine", "lib")
      // legacy wasi.atom "dep:atom" string only
      .RawCommand("legacy-dep", {{"runner", "https://webc.org/runner/wasi"},
                                 {"annotations", {{"wasi", {{"atom", "lib:engine"}}}}}})
      // no annotations, WASI runner: the atom named like the command...
      .RawCommand("alpha", {{"runner", "https://webc.org/runner/wasi@unstable_"},
                            {"annotations", nlohmann::ordered_json::object()}})
      // ... and when there is none: the first atom in byte order (not manifest order)
      .RawCommand("missing", {{"runner", "https://webc.org/runner/wcgi"},
                              {"annotations", nlohmann::ordered_json::object()}})
      // annotations present but naming an absent atom: left out with a warning
      .Command("broken", "nope")
      // unsupported runner without an atom: left out
      .RawCommand("emu", {{"runner", "https://webc.org/runner/emscripten"},
                          {"annotations", nlohmann::ordered_json::object()}})
      // unknown dependency alias: left out
      .Command("dangling", "engine", "ghost")
      .WriteTo(reg());
  PackageBuilder("t/lib", "1.0.0").Atom("engine").WriteTo(reg());
  Resolution r = MustResolve("t/app");
  auto check = [&](const char* name, const char* atom, size_t atom_package) {
    const CommandEntry* c = FindCommand(r, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->atom, atom) << name;
    EXPECT_EQ(c->atom_package, atom_package) << name;
    EXPECT_EQ(c->package, 0u) << name;
  };
  check("dep-cmd", "engine", 1);
  check("legacy-dep", "engine", 1);
  check("alpha", "alpha", 0);
  check("missing", "alpha", 0);
  EXPECT_EQ(FindCommand(r, "broken"), nullptr);
  EXPECT_EQ(FindCommand(r, "emu"), nullptr);
  EXPECT_EQ(FindCommand(r, "dangling"), nullptr);
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_EQ(r.warnings[0],
            "t/app@1.0.0: command 'broken' left out: atom 'nope' does not exist in t/app@1.0.0");
  EXPECT_NE(r.warnings[1].find("command 'emu' left out: runner "), std::string::npos);
  EXPECT_NE(r.warnings[2].find("'ghost' is not a dependency alias"), std::string::npos);
}

// The entrypoint as Wasmer's runtime (@wasmer/sdk 0.16.0) reports it for the
// same trees (docs/resolution.md, "Commands and entrypoint").
TEST_F(ResolveTest, EntrypointFallbacks) {
  PackageBuilder("t/dep", "1.0.0").Atom("x").Command("x", "x").Entrypoint("x").WriteTo(reg());
  PackageBuilder("t/dep2", "1.0.0").Atom("y").Command("y", "y").Entrypoint("y").WriteTo(reg());
  // 1. The root's own.
  PackageBuilder("t/own", "1.0.0")
      .Use("d", "t/dep@1")
      .Atom("a")
      .Command("a", "a")
      .Command("b", "a")
      .Entrypoint("b")
      .WriteTo(reg());
  EXPECT_EQ(MustResolve("t/own").entrypoint, "b");
  // 2. Else the root's only command, even when a dependency names one.
  PackageBuilder("t/only", "1.0.0")
      .Use("d", "t/dep@1")
      .Atom("a")
      .Command("solo", "a")
      .WriteTo(reg());
  EXPECT_EQ(MustResolve("t/only").entrypoint, "solo");
  // 3. A root with several commands and no entrypoint has none: a dependency's
  //    is not inherited (Wasmer: "no unambiguous entrypoint").
  PackageBuilder("t/several", "1.0.0")
      .Use("d", "t/dep@1")
      .Atom("a")
      .Command("c1", "a")
      .Command("c2", "a")
      .WriteTo(reg());
  EXPECT_EQ(MustResolve("t/several").entrypoint, std::nullopt);
  // 4. A root without commands inherits the first in precedence order (the
  //    later-declared dependency comes first).
  PackageBuilder("t/inherit", "1.0.0")
      .Use("first", "t/dep@1")
      .Use("second", "t/dep2@1")
      .WriteTo(reg());
  EXPECT_EQ(MustResolve("t/inherit").entrypoint, "y");
  // 5. Else none.
  PackageBuilder("t/none", "1.0.0").Use("d", "t/plain@1").WriteTo(reg());
  PackageBuilder("t/plain", "1.0.0").Atom("p").Command("p", "p").WriteTo(reg());
  EXPECT_EQ(MustResolve("t/none").entrypoint, std::nullopt);
}

TEST_F(ResolveTest, ErrorsFromTheGraphReachTheCaller) {
  PackageBuilder("t/app", "1.0.0").Use("gone", "t/gone@^2").WriteTo(reg());
  PackageBuilder("t/gone", "1.0.0").WriteTo(reg());
  auto r = Run("t/app");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "t/app@1.0.0: dependency 'gone' (t/gone@^2): no version of t/gone matches ^2 "
            "(available: 1.0.0)");
  PackageBuilder("t/loop", "1.0.0").Use("me", "t/loop@1").WriteTo(reg());
  auto loop = Run("t/loop");
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().message(), "dependency cycle: t/loop@1.0.0 \u2192 t/loop@1.0.0");
  auto missing = Run("t/nothing@1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Error::Code::kNotFound);
  EXPECT_NE(missing.error().message().find("no package t/nothing"), std::string::npos);
  auto url = Run("https://example.org/x.webc");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().code(), Error::Code::kUnsupported);
}

TEST_F(ResolveTest, RootByPathResolvesDependenciesAgainstRegistries) {
  std::string app =
      PackageBuilder("t/local", "0.1.0").Use("lib", "t/lib@1").WriteTo(tmp_ / "work", "app.webc");
  PackageBuilder("t/lib", "1.0.0").WriteTo(reg());
  Resolution r = MustResolve(app);
  EXPECT_EQ(Ids(r), (Strings{"t/local@0.1.0", "t/lib@1.0.0"}));
  EXPECT_EQ(r.packages[0].source, app);
  // Unnamed root: its id is its hash.
  std::string anon =
      PackageBuilder("", "").Use("lib", "t/lib@1").WriteTo(tmp_ / "work", "anon.webc");
  Resolution a = MustResolve(anon);
  EXPECT_EQ(a.packages[0].id, "sha256:" + webc::ToHex(webc::Sha256::Of(ReadHostFile(anon))));
}

TEST_F(ResolveTest, UnnamedPackagesByHash) {
  std::string blob =
      PackageBuilder("", "").Volume("/d", {{"f", "1"}}).Fs("/d", "/d").WriteTo(reg(), "blob.webc");
  std::string hex = webc::ToHex(webc::Sha256::Of(ReadHostFile(blob)));
  PackageBuilder("t/app", "1.0.0").Use("blob", "sha256:" + hex).WriteTo(reg());
  Resolution r = MustResolve("t/app");
  EXPECT_EQ(Ids(r), (Strings{"t/app@1.0.0", "sha256:" + hex}));
  Resolution direct = MustResolve("sha256:" + hex);
  EXPECT_EQ(Ids(direct), (Strings{"sha256:" + hex}));
  EXPECT_EQ(direct.mappings.size(), 1u);
}

TEST_F(ResolveTest, CorruptRegistryFilesAreSkippedNotFatal) {
  PackageBuilder("t/app", "1.0.0").Use("lib", "t/lib@1").WriteTo(reg());
  PackageBuilder("t/lib", "1.0.0").WriteTo(reg());
  WriteHostFile(reg() / "junk.webc", "plain text");
  WriteHostFile(reg() / "t--lib@1.5.0.webc", "corrupt, but named like the newest version");
  std::string mislabeled = PackageBuilder("t/other", "3.0.0").WriteTo(reg(), "t--lib@1.4.0.webc");
  ResolveOptions options = Options();
  Strings streamed;
  options.on_warning = [&](const std::string& w) { streamed.push_back(w); };
  Resolution r = MustResolve("t/app", options);
  EXPECT_EQ(Ids(r), (Strings{"t/app@1.0.0", "t/lib@1.0.0"}));
  ASSERT_EQ(r.warnings.size(), 3u) << ::testing::PrintToString(r.warnings);
  EXPECT_EQ(streamed, r.warnings);
  EXPECT_TRUE(r.warnings[0].starts_with((reg() / "junk.webc").string() + ": skipped: "));
  EXPECT_TRUE(r.warnings[1].starts_with((reg() / "t--lib@1.5.0.webc").string() + ": skipped: "))
      << r.warnings[1];
  EXPECT_EQ(r.warnings[2], mislabeled +
                               ": skipped: file name says t/lib@1.4.0 but the manifest "
                               "says t/other@3.0.0");
}

TEST_F(ResolveTest, FirstRegistryWinsOnIdenticalIds) {
  std::string first =
      PackageBuilder("t/x", "1.0.0").Volume("/v", {{"who", "first"}}).WriteTo(tmp_ / "r1");
  PackageBuilder("t/x", "1.0.0").Volume("/v", {{"who", "second"}}).WriteTo(tmp_ / "r2");
  std::string newer = PackageBuilder("t/x", "1.1.0").WriteTo(tmp_ / "r2");
  ResolveOptions o = Options();
  o.registries = {(tmp_ / "r1").string(), (tmp_ / "r2").string()};
  EXPECT_EQ(MustResolve("t/x@=1.0.0", o).packages[0].source, first);
  EXPECT_EQ(MustResolve("t/x", o).packages[0].source, newer) << "merged: higher versions still win";
}

TEST_F(ResolveTest, ZstdRegistryPackage) {
  std::string plain = PackageBuilder("t/z", "1.0.0")
                          .Volume("/v", {{"f", "zzz"}})
                          .Fs("/v", "/v")
                          .WriteTo(tmp_ / "plain");
  std::filesystem::create_directories(reg());
  int rc = std::system(
      ("zstd -q -f -o '" + (reg() / "t--z@1.0.0.webc.zst").string() + "' '" + plain + "'").c_str());
  ASSERT_EQ(rc, 0);
  Resolution r = MustResolve("t/z");
  ASSERT_EQ(Ids(r), (Strings{"t/z@1.0.0"}));
  EXPECT_EQ(r.packages[0].source, (reg() / "t--z@1.0.0.webc.zst").string());
  EXPECT_EQ(r.packages[0].webc_sha256, webc::ToHex(webc::Sha256::Of(ReadHostFile(plain))));
  EXPECT_EQ(ReadHostFile(r.packages[0].container_path), ReadHostFile(plain));
  ResolveOptions no_cache = Options();
  no_cache.use_cache = false;
  Resolution in_place = MustResolve("t/z", no_cache);
  EXPECT_EQ(in_place.packages[0].webc_sha256, r.packages[0].webc_sha256);
  EXPECT_EQ(in_place.packages[0].container_path, in_place.packages[0].source);
}

TEST_F(ResolveTest, WorkerCountDoesNotChangeTheResult) {
  PackageBuilder("t/app", "1.0.0")
      .Use("a", "t/a@1")
      .Use("b", "t/b@1")
      .Use("c", "t/c@1")
      .WriteTo(reg());
  for (const char* n : {"a", "b", "c"}) {
    PackageBuilder(std::string("t/") + n, "1.0.0")
        .Use("z", "t/z@1")
        .Atom(n)
        .Command(n, n)
        .WriteTo(reg());
  }
  PackageBuilder("t/z", "1.0.0").WriteTo(reg());
  ResolveOptions one = Options();
  one.load_workers = 1;
  ResolveOptions many = Options();
  many.load_workers = 8;
  EXPECT_EQ(MustResolve("t/app", one).ToLockfileJson(),
            MustResolve("t/app", many).ToLockfileJson());
}

}  // namespace
}  // namespace webcfs::resolver

namespace webcfs::resolver {
namespace {

using testing::PackageBuilder;
using testing::TempDir;

TEST(ResolveEmbeddedTest, EmbeddedManifestPinsItsExactVersion) {
  TempDir tmp;
  ResolveOptions o = testing::TestOptions(tmp.path());
  PackageBuilder("t/app", "1.0.0")
      .UseEmbedded("vendored", "t/vendored", "1.2.0")
      .WriteTo(tmp / "registry");
  PackageBuilder("t/vendored", "1.2.0").WriteTo(tmp / "registry");
  PackageBuilder("t/vendored", "1.3.0").WriteTo(tmp / "registry");
  Resolution r = testing::MustResolve("t/app", o);
  EXPECT_EQ(testing::PackageIds(r), (std::vector<std::string>{"t/app@1.0.0", "t/vendored@1.2.0"}));
  EXPECT_EQ(r.packages[0].dependencies[0].requirement, "<embedded>");
}

TEST(ResolveFromCacheTest, HashSpecifierFindsAnyPreviouslyImportedPackage) {
  TempDir tmp;
  ResolveOptions o = testing::TestOptions(tmp.path());
  std::string path = PackageBuilder("t/gone", "1.0.0").WriteTo(tmp / "registry");
  Resolution first = testing::MustResolve("t/gone", o);
  std::string hex = first.packages[0].webc_sha256;
  std::filesystem::remove(path);
  Resolution again = testing::MustResolve("sha256:" + hex, o);
  ASSERT_EQ(again.packages.size(), 1u);
  EXPECT_EQ(again.packages[0].id, "t/gone@1.0.0") << "named by its manifest";
  EXPECT_EQ(again.packages[0].webc_sha256, hex);
  ResolveOptions other = o;
  other.cache_dir = (tmp / "other-cache").string();
  auto missing = Resolve("sha256:" + hex, other);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Error::Code::kNotFound);
}

}  // namespace
}  // namespace webcfs::resolver
