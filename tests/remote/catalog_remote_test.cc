// Catalog mounts over remote registries: a static mirror (listed from its
// index.json) and Wasmer's registry API (lookup-only), against servers
// started on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"

namespace webcfs::testing {
namespace {

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename());
  return names;
}

using CatalogRemoteTest = FixtureTreeTest;

TEST_F(CatalogRemoteTest, StaticMirrorIsListedAndServesWhatWebcfsMountServes) {
  WriteIndex();
  Server python = StartPythonHttpServer(packages_, work_.path());
  Server nginx = StartNginx(packages_, work_.path());
  Mount catalog("--catalog", {"--registry", python.Url("/"), "--cache", cache_});
  ASSERT_TRUE(catalog.ok()) << catalog.result().err;
  EXPECT_TRUE(List(catalog.path()).count("sharrattj"));
  const std::set<std::string> versions = List(catalog / "sharrattj");
  EXPECT_TRUE(versions.count("bash@1.0.16"));
  EXPECT_TRUE(versions.count("dash@1.0.18"));
  EXPECT_TRUE(versions.count("coreutils@1.0.16"));
  const std::string wasm = ReadHostFile(catalog / "sharrattj/dash@1/.webc/commands/dash.wasm");
  ASSERT_GE(wasm.size(), 4u);
  EXPECT_EQ(wasm.substr(0, 4), std::string("\0asm", 4));
  Mount single("sharrattj/dash@=1.0.18", {"--registry", nginx.Url("/"), "--cache", cache_});
  ASSERT_TRUE(single.ok()) << single.result().err;
  EXPECT_EQ(WalkTree(catalog / "sharrattj/dash@1.0.18", {".webc/resolution.json"}),
            WalkTree(single.path(), {".webc/resolution.json"}));
}

TEST_F(CatalogRemoteTest, WasmerApiIsLookupOnlyAndResolvesEachNameOnce) {
  Server server = StartRegistryDouble(packages_, catalog_, {}, work_.path());
  Mount m("--catalog", {"--registry", server.Url("/graphql"), "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_TRUE(List(m.path()).empty()) << "the API cannot list";
  // Eight lookups of one name at once: one resolution, one download per package.
  std::vector<std::thread> threads;
  std::vector<int> errors(8, -1);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      struct stat st;
      errors[i] = ::stat((m / "sharrattj/bash@1").c_str(), &st) == 0 ? 0 : errno;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, std::vector<int>(8, 0));
  const nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["files"]["/sharrattj--bash@1.0.16.webc"], 1) << stats.dump();
  EXPECT_EQ(stats["files"]["/sharrattj--coreutils@1.0.16.webc"], 1) << stats.dump();
  const std::string wasm = ReadHostFile(m / "sharrattj/bash@1/.webc/commands/bash.wasm");
  ASSERT_GE(wasm.size(), 4u);
  EXPECT_EQ(wasm.substr(0, 4), std::string("\0asm", 4));
  // Named once, listed while loaded.
  EXPECT_EQ(List(m.path()), (std::set<std::string>{"sharrattj"}));
  EXPECT_EQ(List(m / "sharrattj"), (std::set<std::string>{"bash@1.0.16"}));
  struct stat st;
  EXPECT_NE(::stat((m / "sharrattj/nosuchpackage@1").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
}

}  // namespace
}  // namespace webcfs::testing
