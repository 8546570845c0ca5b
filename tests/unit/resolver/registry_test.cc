#include "resolver/registry.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "resolver/cache.h"
#include "resolver/resolution.h"
#include "tests/unit/resolver/package_util.h"

namespace webcfs::resolver {
namespace {

using testing::PackageBuilder;
using testing::TempDir;

TEST(RegistryFileNameTest, ParsesCanonicalNames) {
  auto p = ParseRegistryFileName("sharrattj--coreutils@1.0.16.webc");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "sharrattj/coreutils");
  EXPECT_EQ(p->second.ToString(), "1.0.16");
  auto z = ParseRegistryFileName("wasmer-tests--volume-static-webserver@0.1.0-rc.1.webc.zst");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->first, "wasmer-tests/volume-static-webserver");
  EXPECT_EQ(z->second.ToString(), "0.1.0-rc.1");
  auto dashes = ParseRegistryFileName("a--b--c@1.0.0.webc");
  ASSERT_TRUE(dashes) << "the first '--' separates namespace and name";
  EXPECT_EQ(dashes->first, "a/b--c");
}

TEST(RegistryFileNameTest, OtherNamesAreNotCanonical) {
  for (const char* name : {"app.webc", "ns--pkg.webc", "ns@1.0.0.webc", "ns--pkg@1.0.webc",
                           "ns--pkg@1.0.0.wasm", "ns--pkg@1.0.0.webc.gz", "--pkg@1.0.0.webc",
                           "ns--@1.0.0.webc", ".ns--pkg@1.0.0.webc", "ns--p kg@1.0.0.webc"}) {
    EXPECT_FALSE(ParseRegistryFileName(name)) << name;
  }
  EXPECT_TRUE(IsRegistryFileName("app.webc"));
  EXPECT_TRUE(IsRegistryFileName("app.webc.zst"));
  EXPECT_FALSE(IsRegistryFileName(".app.webc"));
  EXPECT_FALSE(IsRegistryFileName(".webc"));
  EXPECT_FALSE(IsRegistryFileName("notes.txt"));
}

TEST(RegistryIndexTest, IndexesByFileNameManifestAndHash) {
  TempDir dir;
  PackageBuilder("t/named", "1.0.0").WriteTo(dir.path());
  PackageBuilder("t/named", "1.2.0").WriteTo(dir.path());
  // Not a canonical name: indexed from the manifest.
  PackageBuilder("t/other", "0.3.0").WriteTo(dir.path(), "whatever.webc");
  std::string unnamed =
      PackageBuilder("", "").Volume("/d", {{"x", "1"}}).WriteTo(dir.path(), "blob.webc");
  // A canonical name is trusted without opening the file.
  testing::WriteHostFile(dir / "t--lazy@9.9.9.webc", "not a container at all");

  auto index = RegistryIndex::Open({dir.path()});
  ASSERT_TRUE(index.ok()) << index.error().message();
  EXPECT_TRUE((*index)->warnings().empty());
  auto named = (*index)->Versions("t/named");
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0]->id, "t/named@1.2.0");
  EXPECT_TRUE(named[0]->from_file_name);
  EXPECT_EQ(named[1]->id, "t/named@1.0.0");
  auto other = (*index)->Versions("t/other");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_FALSE(other[0]->from_file_name);
  EXPECT_EQ(other[0]->path, (dir / "whatever.webc").string());
  auto lazy = (*index)->Versions("t/lazy");
  ASSERT_EQ(lazy.size(), 1u);
  EXPECT_EQ(lazy[0]->id, "t/lazy@9.9.9");

  auto hex = HashContainerFile(unnamed);
  ASSERT_TRUE(hex.ok());
  const RegistryEntry* blob = (*index)->FindHash(*hex);
  ASSERT_NE(blob, nullptr);
  EXPECT_EQ(blob->id, "sha256:" + *hex);
  EXPECT_EQ(blob->path, unnamed);
  EXPECT_EQ((*index)->FindHash(std::string(64, '0')), nullptr);
}

TEST(RegistryIndexTest, CorruptAndForeignFilesAreSkippedWithWarnings) {
  TempDir dir;
  PackageBuilder("t/good", "1.0.0").WriteTo(dir.path());
  std::string good = PackageBuilder("t/good2", "1.0.0").WriteTo(dir.path(), "good2.webc");
  testing::WriteHostFile(dir / "junk.webc", "hello, I am text");
  testing::WriteHostFile(dir / "truncated.webc", testing::ReadHostFile(good).substr(0, 40));
  testing::WriteHostFile(dir / "README.md", "ignored: not a .webc");
  testing::WriteHostFile(dir / ".hidden.webc", "ignored: hidden");
  std::filesystem::create_directory(dir / "subdir.webc");

  auto index = RegistryIndex::Open({dir.path()});
  ASSERT_TRUE(index.ok()) << index.error().message();
  const auto& w = (*index)->warnings();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_TRUE(w[0].starts_with((dir / "junk.webc").string() + ": skipped: ")) << w[0];
  EXPECT_TRUE(w[1].starts_with((dir / "subdir.webc").string() + ": skipped: not a regular file"))
      << w[1];
  EXPECT_TRUE(w[2].starts_with((dir / "truncated.webc").string() + ": skipped: ")) << w[2];
  EXPECT_EQ((*index)->Versions("t/good").size(), 1u);
  EXPECT_EQ((*index)->Versions("t/good2").size(), 1u);
}

TEST(RegistryIndexTest, FirstFolderWinsAndDuplicatesInAFolderWarn) {
  TempDir a, b;
  std::string in_a = PackageBuilder("t/x", "1.0.0").Volume("/v", {{"f", "a"}}).WriteTo(a.path());
  PackageBuilder("t/x", "1.0.0").Volume("/v", {{"f", "b"}}).WriteTo(b.path());
  PackageBuilder("t/x", "2.0.0").WriteTo(b.path());
  // Same id twice in folder b: the byte-order-first file wins.
  PackageBuilder("t/x", "2.0.0").WriteTo(b.path(), "zz-copy.webc");

  auto index = RegistryIndex::Open({a.path(), b.path()});
  ASSERT_TRUE(index.ok()) << index.error().message();
  auto versions = (*index)->Versions("t/x");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0]->path, (b / "t--x@2.0.0.webc").string());
  EXPECT_EQ(versions[1]->path, in_a) << "the first folder wins for an identical id";
  ASSERT_EQ((*index)->warnings().size(), 1u);
  EXPECT_EQ((*index)->warnings()[0], (b / "zz-copy.webc").string() +
                                         ": skipped: t/x@2.0.0 is already provided by " +
                                         (b / "t--x@2.0.0.webc").string());
}

TEST(RegistryIndexTest, MissingFolderIsAnError) {
  auto index = RegistryIndex::Open({"/nonexistent/registry"});
  ASSERT_FALSE(index.ok());
  EXPECT_NE(index.error().message().find("/nonexistent/registry"), std::string::npos);
}

TEST(RegistryIndexTest, SeesFilesAddedLater) {
  TempDir dir;
  PackageBuilder("t/x", "1.0.0").WriteTo(dir.path());
  auto first = RegistryIndex::Open({dir.path()});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->Versions("t/x").size(), 1u);
  PackageBuilder("t/x", "1.1.0").WriteTo(dir.path(), "renamed.webc");
  auto second = RegistryIndex::Open({dir.path()});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Versions("t/x").size(), 2u);
}

// Moves a package file into Wasmer's download cache layout: `<name>.bin`,
// named by its sha256 unless `name` says otherwise.
std::string ToCheckout(const std::string& file, const std::filesystem::path& checkouts,
                       std::string name = "") {
  if (name.empty()) {
    auto hex = HashContainerFile(file);
    EXPECT_TRUE(hex.ok()) << hex.error().message();
    name = *hex;
  }
  std::filesystem::create_directories(checkouts);
  std::filesystem::rename(file, checkouts / (name + ".bin"));
  return name;
}

TEST(RegistryIndexTest, WasmerDownloadCacheIsARegistryCheckedAgainstItsNames) {
  TempDir dir;
  const std::filesystem::path checkouts = dir / "checkouts";
  const std::filesystem::path staging = dir / "staging";
  ToCheckout(PackageBuilder("t/app", "1.0.0").Use("lib", "t/lib@^1").WriteTo(staging), checkouts);
  ToCheckout(PackageBuilder("t/lib", "1.0.0").Atom("a").WriteTo(staging), checkouts);
  // Bytes that do not hash to their name: never used.
  const std::string liar(64, 'a');
  ToCheckout(PackageBuilder("t/lib", "1.1.0").Atom("b").WriteTo(staging), checkouts, liar);
  const std::string unnamed = ToCheckout(
      PackageBuilder("", "").Volume("/v", {{"f", "x"}}).WriteTo(staging, "u.webc"), checkouts);
  std::filesystem::create_directories(checkouts / "__temp__");
  testing::WriteHostFile((checkouts / "notes.txt").string(), "not a package");

  ResolveOptions options = testing::TestOptions(dir.path());
  options.registries = {checkouts.string()};
  auto r = Resolve("t/app", options);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->packages.size(), 2u);
  EXPECT_EQ(r->packages[0].id, "t/app@1.0.0");
  EXPECT_EQ(r->packages[1].id, "t/lib@1.0.0");
  const std::string warnings = ::testing::PrintToString(r->warnings);
  EXPECT_NE(warnings.find(liar + ".bin"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("sha256 mismatch"), std::string::npos) << warnings;

  auto by_hash = Resolve("sha256:" + unnamed, options);
  ASSERT_TRUE(by_hash.ok()) << by_hash.error().message();
  EXPECT_EQ(by_hash->packages[0].id, "sha256:" + unnamed);
}

}  // namespace
}  // namespace webcfs::resolver
