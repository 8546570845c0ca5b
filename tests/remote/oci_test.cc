// OCI registries end to end against Debian's docker-registry (CNCF
// distribution) started on 127.0.0.1: `webcfs push`, then resolve and mount
// from the tags, and the faults a registry can show.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "resolver/resolution.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"
#include "tests/unit/resolver/package_util.h"

namespace webcfs::testing {
namespace {

using Strings = std::vector<std::string>;
using resolver::testing::PackageBuilder;

class OciTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(packages_);
    registry_ = StartDockerRegistry(work_.path());
    url_ = "oci+http://127.0.0.1:" + std::to_string(registry_.port) + "/prefix";
  }

  // t/lib at `version`: /lib/version holds the version.
  std::string Lib(const std::string& version, const std::string& extra = "") const {
    return PackageBuilder("t/lib", version)
        .Volume("/lib", {{"version", version + extra + "\n"}})
        .WriteTo(packages_);
  }
  // t/app@1.0.0 using t/lib@^1, its /lib from the dependency.
  std::string App() const {
    return PackageBuilder("t/app", "1.0.0")
        .Use("lib", "t/lib@^1")
        .Volume("/app", {{"app.txt", "app\n"}})
        .Fs("/app", "/app")
        .Fs("/lib", "/lib", "lib")
        .WriteTo(packages_);
  }

  CommandResult Push(const std::string& file, const Strings& extra = {}) const {
    Strings argv = {WebcfsBinary(), "push", file, url_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  }

  // `webcfs mount` from the registry that must fail with one line holding `parts`.
  void ExpectMountFails(const std::string& spec, const Strings& parts) const {
    testing::ExpectMountFails(spec, {"--registry", url_, "--cache", cache_}, parts);
  }

  TempDir tmp_{"webcfs-oci"};
  TempDir work_{"webcfs-oci-srv"};
  std::string packages_ = tmp_ / "packages";
  std::string cache_ = tmp_ / "cache";
  Server registry_;
  std::string url_;
};

TEST_F(OciTest, PushedTreeMountsWithVersionsChosenFromTags) {
  for (const std::string& file : {Lib("1.0.0"), Lib("1.1.0+build.5"), Lib("2.0.0"), App()}) {
    CommandResult pushed = Push(file);
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    EXPECT_NE(pushed.out.find("pushed "), std::string::npos) << pushed.out;
  }
  Mount m("t/app", {"--registry", url_, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / "app/app.txt"), "app\n");
  // ^1 takes the highest 1.x: the tag 1.1.0_build.5 read back as 1.1.0+build.5.
  EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.1.0+build.5\n");
  const std::string resolution = ReadHostFile(m / ".webc/resolution.json");
  EXPECT_NE(resolution.find("t/lib@1.1.0+build.5"), std::string::npos) << resolution;
  // The source is the manifest by digest, what a lockfile pins.
  EXPECT_NE(resolution.find(url_ + "/t/lib@sha256:"), std::string::npos) << resolution;

  resolver::ResolveOptions o;
  o.registries = {url_};
  o.cache_dir = tmp_ / "cache2";
  auto newest = resolver::Resolve("t/lib", o);
  ASSERT_TRUE(newest) << newest.error().message();
  EXPECT_EQ(newest->packages[0].id, "t/lib@2.0.0");
}

TEST_F(OciTest, TenPackageTreeWithADiamondMountsFromPushedTags) {
  // root → a, b, e; a → c@^1 and b → c@~1.2 (the diamond, one c); c → d;
  // e → f → g → h → i. Each package X serves /X/id.
  const std::map<std::string, Strings> uses = {{"root", {"a@^1", "b@^1", "e@^1"}},
                                               {"a", {"c@^1"}},
                                               {"b", {"c@~1.2"}},
                                               {"c", {"d@^1"}},
                                               {"e", {"f@^1"}},
                                               {"f", {"g@^1"}},
                                               {"g", {"h@^1"}},
                                               {"h", {"i@^1"}}};
  auto package = [&](const std::string& name, const std::string& version) {
    PackageBuilder b("t/" + name, version);
    auto it = uses.find(name);
    for (const std::string& dep : it == uses.end() ? Strings{} : it->second) {
      b.Use(dep.substr(0, dep.find('@')), "t/" + dep);
    }
    return b.Volume("/" + name, {{"id", "t/" + name + "@" + version + "\n"}})
        .Fs("/" + name, "/" + name)
        .WriteTo(tmp_ / ("push-" + name + "-" + version));
  };
  for (const char* name : {"root", "a", "b", "d", "e", "f", "g", "h", "i"}) {
    ASSERT_EQ(Push(package(name, "1.0.0")).exit_code, 0) << name;
  }
  // c's versions: ^1 and ~1.2 meet at the highest 1.2.x, which carries build metadata.
  for (const char* version : {"1.0.0", "1.2.0+build.7", "2.0.0"}) {
    CommandResult pushed = Push(package("c", version));
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  }
  Mount m("t/root", {"--registry", url_, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  for (const char* name : {"root", "a", "b", "d", "e", "f", "g", "h", "i"}) {
    EXPECT_EQ(ReadHostFile(m / (std::string(name) + "/id")), "t/" + std::string(name) + "@1.0.0\n");
  }
  EXPECT_EQ(ReadHostFile(m / "c/id"), "t/c@1.2.0+build.7\n");
  const nlohmann::json resolution =
      nlohmann::json::parse(ReadHostFile(m / ".webc/resolution.json"));
  const std::string text = resolution.dump();
  EXPECT_NE(text.find(url_ + "/t/c@sha256:"), std::string::npos) << text;
  size_t packages = 0;
  for (const auto& p : resolution["packages"]) {
    ++packages;
    EXPECT_NE(p.dump().find("@sha256:"), std::string::npos) << p;
  }
  EXPECT_EQ(packages, 10u) << text;
}

TEST_F(OciTest, PushIsIdempotentAndRefusesOtherBytesWithoutForce) {
  ASSERT_EQ(Push(Lib("1.0.0")).exit_code, 0);
  CommandResult again = Push(Lib("1.0.0"));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already"), std::string::npos) << again.out;

  const std::string other = Lib("1.0.0", " changed");
  CommandResult refused = Push(other);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("t/lib@1.0.0 exists with other bytes"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;

  CommandResult forced = Push(other, {"--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  Mount m("t/lib", {"--registry", url_, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string resolution = ReadHostFile(m / ".webc/resolution.json");
  EXPECT_NE(resolution.find(Sha256Hex(ReadHostFile(other))), std::string::npos) << resolution;
}

TEST_F(OciTest, LockfilePinsTheManifestDigestSoARetagChangesNothing) {
  auto lib = [this](const std::string& text) {
    return PackageBuilder("t/lib", "1.0.0")
        .Volume("/lib", {{"version", text}})
        .Fs("/lib", "/lib")
        .WriteTo(tmp_ / ("pkg-" + std::to_string(text.size())));
  };
  ASSERT_EQ(Push(lib("locked\n")).exit_code, 0);
  const std::string lock = tmp_ / "webcfs.lock.json";
  CommandResult resolved = RunCommand(
      {WebcfsBinary(), "resolve", "t/lib", "--registry", url_, "--cache", cache_, "--lock", lock});
  ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  const std::string text = ReadHostFile(lock);
  EXPECT_NE(text.find(url_ + "/t/lib@sha256:"), std::string::npos) << text;
  EXPECT_EQ(text.find("/blobs/"), std::string::npos) << text;

  // The tag now names other bytes; the lockfile still names the old manifest.
  ASSERT_EQ(Push(lib("retagged!\n"), {"--force"}).exit_code, 0);
  {
    Mount locked(lock, {"--cache", tmp_ / "fresh-cache"});
    ASSERT_TRUE(locked.ok()) << locked.result().err;
    EXPECT_EQ(ReadHostFile(locked / "lib/version"), "locked\n");
  }
  Mount by_tag("t/lib", {"--registry", url_, "--cache", tmp_ / "other-cache"});
  ASSERT_TRUE(by_tag.ok()) << by_tag.result().err;
  EXPECT_EQ(ReadHostFile(by_tag / "lib/version"), "retagged!\n");
}

// Every file under the cache: no temporary file, no entry `hex`.webc.
void ExpectNothingPartial(const std::string& cache, const std::string& hex = "") {
  if (!std::filesystem::exists(cache)) return;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache)) {
    const std::string name = e.path().filename().string();
    EXPECT_FALSE(name.starts_with(".tmp-")) << e.path();
    EXPECT_TRUE(hex.empty() || name != hex + ".webc") << e.path();
  }
}

TEST_F(OciTest, PullThroughCacheServesMountsAfterTheOriginStops) {
  for (const std::string& file : {Lib("1.0.0"), App()}) ASSERT_EQ(Push(file).exit_code, 0);
  Server proxy = StartDockerRegistry(work_ / "proxy", "proxy:\n  remoteurl: http://127.0.0.1:" +
                                                          std::to_string(registry_.port) + "\n");
  const std::string through = "oci+http://127.0.0.1:" + std::to_string(proxy.port) + "/prefix";
  auto mount_through_proxy = [&](const std::string& cache) {
    Mount m("t/app", {"--registry", through, "--cache", cache});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.0.0\n");
    EXPECT_EQ(ReadHostFile(m / "app/app.txt"), "app\n");
  };
  mount_through_proxy(tmp_ / "node1-cache");

  // The origin goes away: a direct mount fails in one line naming it...
  registry_.process->Stop();
  ExpectMountFails("t/app", {"127.0.0.1:" + std::to_string(registry_.port), "/tags/list"});
  ExpectNothingPartial(cache_);
  // ...and a node with an empty cache still mounts through the pull-through cache.
  mount_through_proxy(tmp_ / "node2-cache");
}

TEST_F(OciTest, FaultsAreOneLineErrorsWithNothingMountedOrCached) {
  const std::string lib = Lib("1.0.0");
  for (const std::string& file : {lib, App()}) ASSERT_EQ(Push(file).exit_code, 0);
  const std::string lib_hex = Sha256Hex(ReadHostFile(lib));
  Server proxy = StartOciFaultProxy(registry_.Url(""), work_ / "faults");
  const std::string via = "oci+http://127.0.0.1:" + std::to_string(proxy.port) + "/prefix";
  struct Fault {
    std::string mode, match;
    Strings parts;
  };
  const std::string lib_url = "127.0.0.1:" + std::to_string(proxy.port) + "/v2/prefix/t/lib";
  const Fault faults[] = {
      {"corrupt", "/t/lib/manifests/", {"manifest digest mismatch", lib_url + "/manifests/1.0.0"}},
      {"corrupt", "/t/lib/blobs/", {"sha256 mismatch", lib_url + "/blobs/sha256:" + lib_hex}},
      // Listed by tags/list, gone when its manifest is asked for.
      {"404", "/t/lib/manifests/1.0.0", {"HTTP 404", lib_url + "/manifests/1.0.0"}},
      {"503", "/t/lib/blobs/", {"HTTP 503", "after 4 attempts", lib_url + "/blobs/"}},
      {"429", "/t/lib/tags/list", {"HTTP 429", "after 4 attempts", lib_url + "/tags/list"}},
  };
  for (const Fault& f : faults) {
    SCOPED_TRACE(f.mode + " " + f.match);
    SetFault(proxy, f.mode, f.match);
    const std::string cache = tmp_ / ("cache-" + f.mode + std::to_string(f.match.size()));
    // Whole downloads: a lazy mount checks each file as it is read (LazyTest).
    testing::ExpectMountFails("t/app", {"--registry", via, "--cache", cache, "--no-lazy"}, f.parts);
    ExpectNothingPartial(cache, lib_hex);
  }

  // A live mount keeps its tree when a reload meets a fault.
  SetFault(proxy, "none");
  Mount m("t/app", {"--registry", via, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  ASSERT_EQ(Push(Lib("1.2.0")).exit_code, 0);
  SetFault(proxy, "corrupt", "/t/lib/manifests/");
  CommandResult failed = RunCommand({WebcfsBinary(), "reload", m.path()});
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.0.0\n");
  SetFault(proxy, "none");
  CommandResult reloaded = RunCommand({WebcfsBinary(), "reload", m.path()});
  ASSERT_EQ(reloaded.exit_code, 0) << reloaded.err;
  EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.2.0\n");
}

TEST_F(OciTest, PackageOver64MiBUploadsInChunksAndMountsBack) {
  std::string big(size_t{70} << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string file = PackageBuilder("t/big", "1.0.0")
                               .Volume("/data", {{"blob.bin", big}})
                               .Fs("/data", "/data")
                               .WriteTo(packages_);
  // Pushed through a proxy that counts the requests.
  Server proxy = StartOciFaultProxy(registry_.Url(""), work_ / "counting");
  CommandResult pushed =
      RunCommand({WebcfsBinary(), "push", file,
                  "oci+http://127.0.0.1:" + std::to_string(proxy.port) + "/prefix"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  const nlohmann::json stats = Stats(proxy);
  // 16 MiB pieces of a file over 70 MiB.
  EXPECT_EQ(stats["methods"].value("PATCH", 0), 5) << stats;
  Mount m("t/big", {"--registry", url_, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(Sha256Hex(ReadHostFile(m / "data/blob.bin")), Sha256Hex(big));
}

// An OCI image layout holding `webc` as ORAS would push it (a generic layer
// type, the file name in its title, no webcfs annotations), tagged `tag`.
void WriteOciLayout(const std::string& dir, const std::string& webc, const std::string& title,
                    const std::string& tag) {
  const std::filesystem::path blobs = std::filesystem::path(dir) / "blobs/sha256";
  std::filesystem::create_directories(blobs);
  auto blob = [&blobs](const std::string& bytes) {
    const std::string hex = Sha256Hex(bytes);
    std::ofstream(blobs / hex, std::ios::binary) << bytes;
    return "sha256:" + hex;
  };
  nlohmann::json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.empty.v1+json"}, {"digest", blob("{}")}, {"size", 2}}},
      {"layers",
       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
         {"digest", blob(webc)},
         {"size", webc.size()},
         {"annotations", {{"org.opencontainers.image.title", title}}}}}}};
  const std::string text = manifest.dump();
  nlohmann::json index = {{"schemaVersion", 2},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", blob(text)},
                             {"size", text.size()},
                             {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  std::ofstream(std::filesystem::path(dir) / "index.json") << index.dump();
  std::ofstream(std::filesystem::path(dir) / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
}

TEST_F(OciTest, SkopeoCopiedArtifactMountsAndReadsBackWhatPushWrote) {
  // t/lib as another tool pushes it: skopeo from an OCI layout.
  const std::string lib = ReadHostFile(Lib("1.0.0"));
  const std::string layout = tmp_ / "layout";
  WriteOciLayout(layout, lib, "t--lib@1.0.0.webc", "1.0.0");
  const std::string authority = "127.0.0.1:" + std::to_string(registry_.port);
  CommandResult copied =
      RunCommand({"skopeo", "copy", "oci:" + layout + ":1.0.0",
                  "docker://" + authority + "/prefix/t/lib:1.0.0", "--dest-tls-verify=false"});
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
  // t/app with webcfs push; the tree mounts across both.
  const std::string app = App();
  ASSERT_EQ(Push(app).exit_code, 0);
  {
    Mount m("t/app", {"--registry", url_, "--cache", cache_});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.0.0\n");
    EXPECT_EQ(ReadHostFile(m / "app/app.txt"), "app\n");
  }

  // What webcfs push wrote, as skopeo reads it.
  CommandResult raw = RunCommand({"skopeo", "inspect", "--raw", "--tls-verify=false",
                                  "docker://" + authority + "/prefix/t/app:1.0.0"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  const nlohmann::json m = nlohmann::json::parse(raw.out);
  EXPECT_EQ(m["schemaVersion"], 2);
  EXPECT_EQ(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(m["artifactType"], "application/vnd.wasmer.webc");
  EXPECT_EQ(m["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
  EXPECT_EQ(m["config"]["digest"], "sha256:" + Sha256Hex("{}"));
  EXPECT_EQ(m["config"]["size"], 2);
  ASSERT_EQ(m["layers"].size(), 1u) << raw.out;
  const nlohmann::json& layer = m["layers"][0];
  const std::string app_bytes = ReadHostFile(app);
  EXPECT_EQ(layer["mediaType"], "application/vnd.wasmer.webc");
  EXPECT_EQ(layer["digest"], "sha256:" + Sha256Hex(app_bytes));
  EXPECT_EQ(layer["size"], app_bytes.size());
  EXPECT_EQ(layer["annotations"]["org.opencontainers.image.title"], "t--app@1.0.0.webc");
  EXPECT_EQ(m["annotations"]["org.webcfs.package"], "t/app@1.0.0");
  EXPECT_EQ(nlohmann::json::parse(m["annotations"]["org.webcfs.uses"].get<std::string>()),
            nlohmann::json({{"lib", "t/lib@^1"}}));
}

TEST_F(OciTest, BlobDigestMismatchAndMissingVersionsAreOneLineErrors) {
  const std::string file = Lib("1.0.0");
  ASSERT_EQ(Push(file).exit_code, 0);
  ExpectMountFails("t/lib@^3", {"no version of t/lib matches ^3", "available: 1.0.0"});
  ExpectMountFails("t/none", {"no package t/none"});

  // The registry serves other bytes (of the same size) under the layer's digest.
  std::string bytes = ReadHostFile(file);
  const std::string hex = Sha256Hex(bytes);
  bytes.back() ^= 1;
  const std::filesystem::path data = std::filesystem::path(work_.path()) /
                                     "registry-data/docker/registry/v2/blobs/sha256" /
                                     hex.substr(0, 2) / hex / "data";
  ASSERT_TRUE(std::filesystem::exists(data)) << data;
  std::ofstream(data, std::ios::trunc | std::ios::binary) << bytes;
  // Whole: a lazy mount checks each file as it is read instead (LazyTest).
  testing::ExpectMountFails("t/lib", {"--registry", url_, "--cache", cache_, "--no-lazy"},
                            {"sha256 mismatch", hex});
  ExpectNothingPartial(cache_, hex);
}

}  // namespace
}  // namespace webcfs::testing
