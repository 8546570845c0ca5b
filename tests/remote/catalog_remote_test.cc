// Catalog mounts over remote registries: a static mirror (listed from its
// index.json), an OCI registry (listed from its catalog and tags, or
// lookup-only when it refuses to list) and Wasmer's registry API
// (lookup-only), against servers started on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "tests/common/package_builder.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"

namespace webcfs::testing {
namespace {

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename());
  return names;
}

// errno of stat(path), 0 on success.
int StatErrno(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
}

// How many times `part` occurs in `text`.
size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
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

// An OCI registry (Debian's docker-registry) whose catalog answers two
// repositories per page, so that listing follows its Link headers, holding
// t/lib (three versions, one with build metadata), t/app (uses t/lib@^1),
// t/broken (uses t/missing@^1, which is nowhere) and u/tool, under /prefix;
// and t/lib also where the catalog must not take it from.
class CatalogOciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = StartDockerRegistry(work_.path(), "catalog:\n  maxentries: 2\n");
    authority_ = "127.0.0.1:" + std::to_string(registry_.port);
    url_ = "oci+http://" + authority_ + "/prefix";
    auto lib = [this](const std::string& version) {
      return Package("t/lib", version, "lib", "version", {});
    };
    for (const char* version : {"1.0.0", "1.1.0+build.5", "2.0.0"}) Push(lib(version), url_);
    Push(Package("t/app", "1.0.0", "app", "app.txt", {{"lib", "t/lib@^1"}}), url_);
    Push(Package("t/broken", "1.0.0", "b", "b.txt", {{"missing", "t/missing@^1"}}), url_);
    Push(Package("u/tool", "0.1.0", "tool", "tool.txt", {}), url_);
    // Outside the prefix, and one level too deep below it: not packages of this registry.
    Push(lib("3.0.0"), "oci+http://" + authority_ + "/other");
    Push(lib("4.0.0"), url_ + "/deep");
    // A tag that is not a version.
    const std::string manifest = tmp_ / "manifest.json";
    const std::string repo = "http://" + authority_ + "/v2/prefix/t/lib/manifests/";
    const std::string type = "application/vnd.oci.image.manifest.v1+json";
    ASSERT_EQ(RunCommand({"curl", "-sSf", "-H", "Accept: " + type, "-o", manifest, repo + "2.0.0"})
                  .exit_code,
              0);
    CommandResult tagged = RunCommand({"curl", "-sSf", "-X", "PUT", "-H", "Content-Type: " + type,
                                       "--data-binary", "@" + manifest, repo + "latest"});
    ASSERT_EQ(tagged.exit_code, 0) << tagged.err;
  }

  // `name`@`version` serving /DIR/FILE, which holds `version`; `use` is its
  // alias → specifier map.
  std::string Package(const std::string& name, const std::string& version, const std::string& dir,
                      const std::string& file, const std::map<std::string, std::string>& use) {
    PackageBuilder b(name, version);
    for (const auto& [alias, spec] : use) b.Use(alias, spec);
    return b.Volume("/" + dir, {{file, version + "\n"}})
        .Fs("/" + dir, "/" + dir)
        .WriteTo(tmp_ / (dir + "-" + version));
  }

  void Push(const std::string& file, const std::string& url) {
    CommandResult pushed = RunCommand({WebcfsBinary(), "push", file, url});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  }

  TempDir tmp_{"webcfs-catalog-oci"};
  TempDir work_{"webcfs-catalog-oci-srv"};
  std::string cache_ = tmp_ / "cache";
  std::string log_ = tmp_ / "log";
  Server registry_;
  std::string authority_;
  std::string url_;
};

TEST_F(CatalogOciTest, ListsCatalogAndTagsAndServesWhatWebcfsMountServes) {
  Mount catalog("--catalog", {"--registry", url_, "--cache", cache_, "--log-file", log_});
  ASSERT_TRUE(catalog.ok()) << catalog.result().err;
  EXPECT_EQ(List(catalog.path()), (std::set<std::string>{"t", "u"}));
  EXPECT_EQ(List(catalog / "t"), (std::set<std::string>{"app@1.0.0", "broken@1.0.0", "lib@1.0.0",
                                                        "lib@1.1.0+build.5", "lib@2.0.0"}));
  EXPECT_EQ(List(catalog / "u"), (std::set<std::string>{"tool@0.1.0"}));

  // ^1 takes the highest 1.x, whose tag is 1.1.0_build.5.
  EXPECT_EQ(ReadHostFile(catalog / "t/app@1/lib/version"), "1.1.0+build.5\n");
  EXPECT_EQ(ReadHostFile(catalog / "t/lib/lib/version"), "2.0.0\n");
  Mount single("t/app@=1.0.0", {"--registry", url_, "--cache", tmp_ / "single-cache"});
  ASSERT_TRUE(single.ok()) << single.result().err;
  const auto walked = WalkTree(catalog / "t/app@1", {".webc/resolution.json"});
  EXPECT_EQ(walked, WalkTree(single.path(), {".webc/resolution.json"}));
  EXPECT_TRUE(walked.count("app/app.txt"));

  // A registry that lists: unlisted names and namespaces do not exist.
  EXPECT_EQ(StatErrno(catalog / "t/none@1"), ENOENT);
  EXPECT_EQ(StatErrno(catalog / "t/none"), ENOENT);
  EXPECT_EQ(StatErrno(catalog / "t/lib@9"), ENOENT);
  EXPECT_EQ(StatErrno(catalog / "zz/lib@1"), ENOENT);
  // A missing dependency fails its own path only.
  EXPECT_EQ(StatErrno(catalog / "t/broken@1"), EIO);
  EXPECT_EQ(StatErrno(catalog / "t/broken@1"), EIO);
  EXPECT_EQ(ReadHostFile(catalog / "u/tool@0.1.0/tool/tool.txt"), "0.1.0\n");
  EXPECT_EQ(ReadHostFile(catalog / "t/app@1/app/app.txt"), "1.0.0\n");
  const std::string log = ReadHostFile(log_);
  EXPECT_EQ(Count(log, "no package t/missing"), 1u) << log;
}

TEST_F(CatalogOciTest, RegistryThatRefusesItsCatalogIsLookupOnly) {
  Server proxy = StartOciFaultProxy(registry_.Url(""), work_ / "proxy");
  const std::string via = "oci+http://127.0.0.1:" + std::to_string(proxy.port) + "/prefix";
  for (const char* status : {"404", "403"}) {
    SCOPED_TRACE(status);
    SetFault(proxy, status, "/v2/_catalog");
    const std::string log = tmp_ / ("log-" + std::string(status));
    Mount m("--catalog", {"--registry", via, "--cache", cache_, "--log-file", log});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_TRUE(List(m.path()).empty());
    EXPECT_EQ(ReadHostFile(m / "t/app@1/lib/version"), "1.1.0+build.5\n");
    EXPECT_EQ(List(m / "t"), (std::set<std::string>{"app@1.0.0"}));
    EXPECT_EQ(StatErrno(m / "t/none@1"), ENOENT);
    EXPECT_EQ(StatErrno(m / "t/broken@1"), EIO);
    // Said once (at start-up, by the mount command), reloads included.
    CommandResult reloaded = RunCommand({WebcfsBinary(), "reload", m.path()});
    EXPECT_EQ(reloaded.exit_code, 0) << reloaded.err;
    const std::string text = m.result().err + ReadHostFile(log);
    EXPECT_EQ(Count(text, "cannot list its repositories"), 1u) << text;
    EXPECT_NE(text.find(std::string("_catalog: HTTP ") + status), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace webcfs::testing
