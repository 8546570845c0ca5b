#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "resolver/resolution.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/base/sha256.h"
#include "webc/container.h"

namespace webcfs::resolver {
namespace {

using Json = nlohmann::ordered_json;
using testing::PackageBuilder;
using testing::ReadHostFile;
using testing::TempDir;
using testing::WriteHostFile;

class LockfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = PackageBuilder("t/app", "1.0.0")
               .Use("first", "t/first@1")
               .Use("second", "t/second@^1.1")
               .Atom("app")
               .Command("app", "app")
               .Volume("/www", {{"index.html", "hi"}})
               .Fs("/www", "/www")
               .Fs("/shared", "/data", "second")
               .WriteTo(reg());
    first_ = PackageBuilder("t/first", "1.0.0")
                 .Use("s", "t/second@1")
                 .Atom("f")
                 .Command("f", "f")
                 .Entrypoint("f")
                 .WriteTo(reg());
    PackageBuilder("t/second", "1.1.0").Volume("/data", {{"d.txt", "d"}}).EmptyFs().WriteTo(reg());
  }

  std::filesystem::path reg() const { return tmp_ / "registry"; }
  ResolveOptions Options() const { return testing::TestOptions(tmp_.path()); }
  std::string Lock() {
    auto r = Resolve("t/app", Options());
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r ? r->ToLockfileJson() : "";
  }

  TempDir tmp_;
  std::string app_, first_;
};

TEST_F(LockfileTest, ShapeAndKeyOrder) {
  Json doc = Json::parse(Lock());
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"webcfs_lockfile", "root", "packages", "mappings",
                                            "commands", "entrypoint"}));
  EXPECT_EQ(doc["webcfs_lockfile"], 1);
  EXPECT_EQ(doc["root"], "t/app@1.0.0");
  ASSERT_EQ(doc["packages"].size(), 3u);
  const Json& app = doc["packages"][0];
  std::vector<std::string> pkeys;
  for (const auto& [k, v] : app.items()) pkeys.push_back(k);
  EXPECT_EQ(pkeys, (std::vector<std::string>{"id", "source", "webc_sha256", "header_sha256",
                                             "webc_size", "dependencies"}));
  EXPECT_EQ(app["source"], app_);
  EXPECT_EQ(app["webc_sha256"], webc::ToHex(webc::Sha256::Of(ReadHostFile(app_))));
  auto app_source = webc::MemorySource(ReadHostFile(app_));
  auto header = webc::HeaderDigest(*app_source);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(app["header_sha256"], webc::ToHex(*header));
  EXPECT_EQ(app["webc_size"], std::filesystem::file_size(app_));
  EXPECT_EQ(app["dependencies"][0],
            Json({{"alias", "first"}, {"requirement", "t/first@1"}, {"package", "t/first@1.0.0"}}));
  EXPECT_EQ(
      app["dependencies"][1],
      Json({{"alias", "second"}, {"requirement", "t/second@^1.1"}, {"package", "t/second@1.1.0"}}));
  EXPECT_EQ(doc["mappings"][1], Json({{"package", "t/app@1.0.0"},
                                      {"volume_package", "t/second@1.1.0"},
                                      {"volume", "/data"},
                                      {"volume_path", "/"},
                                      {"mount_path", "/shared"}}));
  EXPECT_EQ(doc["commands"][0], Json({{"name", "app"},
                                      {"package", "t/app@1.0.0"},
                                      {"atom_package", "t/app@1.0.0"},
                                      {"atom", "app"},
                                      {"runner", "https://webc.org/runner/wasi"}}));
  EXPECT_EQ(doc["entrypoint"], "app") << "the root's only command, not t/first's";
}

TEST_F(LockfileTest, RoundTripGivesTheSameResolution) {
  std::string lock = Lock();
  WriteHostFile(tmp_ / "app.lock.json", lock);
  auto loaded = Resolve((tmp_ / "app.lock.json").string(), Options());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->ToLockfileJson(), lock);
  ASSERT_EQ(loaded->packages.size(), 3u);
  for (const auto& p : loaded->packages) ASSERT_NE(p.container, nullptr);
  EXPECT_EQ(loaded->mappings.size(), 2u);
}

TEST_F(LockfileTest, LoadingDoesNotResolve) {
  std::string lock = Lock();
  // A newer matching version appears: a lockfile keeps the pinned one.
  PackageBuilder("t/second", "1.9.0").Volume("/data", {{"d.txt", "new"}}).EmptyFs().WriteTo(reg());
  auto loaded = ParseLockfile(lock, "app.lock.json", Options());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->ToLockfileJson(), lock);
  auto fresh = Resolve("t/app", Options());
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->ToLockfileJson(), lock);
}

TEST_F(LockfileTest, HashMismatchNamesPackageExpectedAndActual) {
  std::string lock = Lock();
  std::string expected = Json::parse(lock)["packages"][1]["webc_sha256"];
  // Rewrite t/first with different content under the same name.
  PackageBuilder("t/first", "1.0.0")
      .Use("s", "t/second@1")
      .Atom("f", "different")
      .Command("f", "f")
      .Entrypoint("f")
      .WriteTo(reg());
  std::string actual = webc::ToHex(webc::Sha256::Of(ReadHostFile(first_)));
  ASSERT_NE(actual, expected);
  auto loaded = ParseLockfile(lock, "app.lock.json", Options());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code(), Error::Code::kIntegrity);
  EXPECT_EQ(loaded.error().message(), "app.lock.json: t/first@1.0.0: sha256 mismatch for " +
                                          first_ + ": expected " + expected + ", actual " + actual);
}

TEST_F(LockfileTest, MissingSourceFallsBackToTheCache) {
  std::string lock = Lock();
  std::filesystem::remove(first_);
  auto loaded = ParseLockfile(lock, "app.lock.json", Options());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->ToLockfileJson(), lock) << "the source is still recorded";
  EXPECT_EQ(loaded->packages[1].source, first_);
  EXPECT_TRUE(loaded->packages[1].container_path.starts_with((tmp_ / "cache").string()));

  ResolveOptions elsewhere = Options();
  elsewhere.cache_dir = (tmp_ / "empty-cache").string();
  auto missing = ParseLockfile(lock, "app.lock.json", elsewhere);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Error::Code::kNotFound);
  EXPECT_NE(missing.error().message().find("t/first@1.0.0: " + first_ + " is missing"),
            std::string::npos)
      << missing.error().message();
}

TEST_F(LockfileTest, EditedLockfilesAreRejected) {
  Json doc = Json::parse(Lock());
  struct Case {
    std::function<void(Json&)> edit;
    const char* needle;
  };
  std::vector<Case> cases = {
      {[](Json& d) { d["webcfs_lockfile"] = 2; }, "lockfile version 2"},
      {[](Json& d) { d.erase("packages"); }, "lockfile.packages: missing"},
      {[](Json& d) { d["packages"][0]["webc_sha256"] = "xyz"; }, "packages[0].webc_sha256"},
      {[](Json& d) { d["packages"][0]["header_sha256"] = "xyz"; }, "packages[0].header_sha256"},
      {[](Json& d) { d["packages"][1]["header_sha256"] = std::string(64, '0'); },
       "header digest mismatch"},
      {[](Json& d) { d["packages"][0]["webc_size"] = -1; }, "packages[0].webc_size"},
      {[](Json& d) { d["packages"][1]["webc_size"] = 7; }, "size mismatch: expected 7 bytes"},
      {[](Json& d) { d["root"] = "t/first@1.0.0"; }, "the first package must be the root"},
      {[](Json& d) { d["mappings"][0]["mount_path"] = "/elsewhere"; },
       "mappings differ from what the locked packages declare"},
      {[](Json& d) { d["commands"][0]["atom"] = "other"; }, "commands differ"},
      {[](Json& d) { d["entrypoint"] = "f"; }, "entrypoint differ"},
      {[](Json& d) { d["packages"][0]["dependencies"][0]["package"] = "t/nope@1.0.0"; },
       "names t/nope@1.0.0, which is not listed"},
      {[](Json& d) { d["packages"][0]["dependencies"][0]["alias"] = "renamed"; },
       "in the manifest but 'renamed'"},
      {[](Json& d) { std::swap(d["packages"][1], d["packages"][2]); }, "not in precedence order"},
      {[](Json& d) { d["packages"][0]["dependencies"][0]["package"] = "t/second@1.1.0"; },
       "is not satisfied by t/second@1.1.0"},
      {[](Json& d) { d["packages"][1]["id"] = "t/impostor@1.1.0"; }, "not listed"},
  };
  for (const Case& c : cases) {
    Json edited = doc;
    c.edit(edited);
    auto r = ParseLockfile(edited.dump(2), "x.json", Options());
    ASSERT_FALSE(r.ok()) << c.needle;
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << "want '" << c.needle << "' in: " << r.error().message();
  }
  auto garbage = ParseLockfile("{not json", "x.json", Options());
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(garbage.error().message().starts_with("x.json: not JSON"))
      << garbage.error().message();
}

TEST_F(LockfileTest, ImpostorWithTheRightHashButWrongNameIsRejected) {
  Json doc = Json::parse(Lock());
  // Claim t/second is named t/third: its manifest disagrees.
  std::string lock = doc.dump(2);
  std::string needle = "t/second@1.1.0";
  for (size_t pos; (pos = lock.find(needle)) != std::string::npos;)
    lock.replace(pos, needle.size(), "t/third@1.1.0");
  auto r = ParseLockfile(lock, "x.json", Options());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("t/third@1.1.0: the container's manifest says t/second@1.1.0"),
            std::string::npos)
      << r.error().message();
}

// A registry file whose name is not UTF-8 is recorded with its exact bytes
// ("source_hex"), so the lockfile loads from that very file, even with no
// cache to fall back on.
TEST_F(LockfileTest, NonUtf8SourcePathRoundTrips) {
  const std::string name = "caf\xe9-solo.webc";  // Latin-1, not UTF-8
  const std::string solo = PackageBuilder("t/solo", "1.0.0")
                               .Volume("/www", {{"a.txt", "a"}})
                               .Fs("/www", "/www")
                               .WriteTo(reg(), name);
  ASSERT_EQ(solo, (reg() / name).string());
  ResolveOptions options = Options();
  options.use_cache = false;
  auto r = Resolve("t/solo", options);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const std::string lock = r->ToLockfileJson();
  const Json package = Json::parse(lock)["packages"][0];
  std::vector<std::string> keys;
  for (const auto& [k, v] : package.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "source", "source_hex", "webc_sha256",
                                            "header_sha256", "webc_size", "dependencies"}));
  std::string hex;
  for (const unsigned char c : solo) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 0xf];
  }
  EXPECT_EQ(package["source_hex"], hex);

  WriteHostFile(tmp_ / "solo.lock.json", lock);
  auto loaded = Resolve((tmp_ / "solo.lock.json").string(), options);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->packages[0].source, solo);
  EXPECT_EQ(loaded->ToLockfileJson(), lock);

  // Hex that is not whole lowercase bytes is refused, naming the key.
  Json edited = Json::parse(lock);
  edited["packages"][0]["source_hex"] = "abc";
  auto bad = ParseLockfile(edited.dump(), "solo.lock.json", options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("packages[0].source_hex"), std::string::npos)
      << bad.error().message();
}

TEST_F(LockfileTest, LoadLockfileFromDiskErrors) {
  auto missing = LoadLockfile((tmp_ / "absent.json").string(), Options());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("absent.json"), std::string::npos);
}

}  // namespace
}  // namespace webcfs::resolver
