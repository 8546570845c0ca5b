// Remote registries end to end, against servers started on 127.0.0.1: static
// mirrors served by nginx, `python3 -m http.server` and the registry double,
// and Wasmer's registry API (wasmer_registry.py), each fault it can inject.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "resolver/resolution.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"
#include "tests/unit/resolver/package_util.h"

namespace webcfs::testing {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kCoreutilsFile = "sharrattj--coreutils@1.0.16.webc";

Strings Ids(const resolver::Resolution& r) {
  Strings out;
  for (const auto& p : r.packages) out.push_back(p.id);
  return out;
}

class RemoteTest : public FixtureTreeTest {
 protected:
  Server StartDouble(const Strings& args = {}) {
    return StartRegistryDouble(packages_, catalog_, args, work_.path());
  }

  resolver::ResolveOptions Options(const Strings& registries) const {
    resolver::ResolveOptions o;
    o.registries = registries;
    o.cache_dir = cache_;
    o.http_timeout_ms = 2000;
    o.http_retries = 2;
    return o;
  }

  // Nothing half-written in the cache, and no entry named `absent_sha256`.
  void ExpectNothingPartial(const std::string& absent_sha256 = "") const {
    for (const auto& e : std::filesystem::recursive_directory_iterator(cache_)) {
      const std::string name = e.path().filename().string();
      EXPECT_FALSE(name.starts_with(".tmp-")) << e.path();
      if (!absent_sha256.empty()) {
        EXPECT_NE(name, absent_sha256 + ".webc");
      }
    }
  }

  std::string CoreutilsSha() const {
    return Sha256Hex(ReadHostFile(packages_ + "/" + kCoreutilsFile));
  }
};

TEST_F(RemoteTest, MirrorServedByPythonHttpServer) {
  WriteIndex();
  Server server = StartPythonHttpServer(packages_, work_.path());
  auto r = resolver::Resolve("sharrattj/bash", Options({server.Url("/")}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Ids(*r), (Strings{"sharrattj/bash@1.0.16", "sharrattj/coreutils@1.0.16"}));
  EXPECT_EQ(r->packages[1].source, server.Url("/") + kCoreutilsFile);
  EXPECT_EQ(r->packages[1].webc_sha256, CoreutilsSha());
  EXPECT_NE(r->ToLockfileJson().find(server.Url("/") + kCoreutilsFile), std::string::npos);
  ExpectNothingPartial();
}

TEST_F(RemoteTest, MirrorServedByNginxMountsAfterWebcfsIndex) {
  CommandResult indexed = RunCommand({WebcfsBinary(), "index", packages_});
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
  Server server = StartNginx(packages_, work_.path());
  Mount m("sharrattj/dash", {"--registry", server.Url("/"), "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string wasm = ReadHostFile(m / ".webc/commands/dash.wasm");
  ASSERT_GE(wasm.size(), 4u);
  EXPECT_EQ(wasm.substr(0, 4), std::string("\0asm", 4));
  EXPECT_NE(ReadHostFile(m / ".webc/resolution.json").find(server.Url("/") + kCoreutilsFile),
            std::string::npos);
}

TEST_F(RemoteTest, LocalRegistryWithIndexIsReadFromIt) {
  WriteIndex();
  // A file the index does not list is not seen: the index is the listing.
  std::filesystem::rename(packages_ + "/sharrattj--dash@1.0.18.webc",
                          packages_ + "/sharrattj--dash@1.0.19.webc");
  auto r = resolver::Resolve("sharrattj/bash", Options({packages_}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Ids(*r), (Strings{"sharrattj/bash@1.0.16", "sharrattj/coreutils@1.0.16"}));
  auto dash = resolver::Resolve("sharrattj/dash@1.0.19", Options({packages_}));
  EXPECT_FALSE(dash);
}

TEST_F(RemoteTest, WasmerApiResolvesFromAnswersAndDownloadsEachPackageOnce) {
  Server server = StartDouble();
  auto r = resolver::Resolve("sharrattj/bash", Options({server.Url("/graphql")}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Ids(*r), (Strings{"sharrattj/bash@1.0.16", "sharrattj/coreutils@1.0.16"}));
  EXPECT_EQ(r->packages[1].source, server.Url("/sharrattj--coreutils%401.0.16.webc"));
  nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["graphql"], 2) << stats.dump();  // one question per name
  EXPECT_EQ(stats["files"]["/sharrattj--bash@1.0.16.webc"], 1) << stats.dump();
  EXPECT_EQ(stats["files"]["/" + std::string(kCoreutilsFile)], 1) << stats.dump();
  // Warm cache: nothing is downloaded again.
  auto again = resolver::Resolve("sharrattj/bash", Options({server.Url("/graphql")}));
  ASSERT_TRUE(again) << again.error().message();
  stats = Stats(server);
  EXPECT_EQ(stats["files"]["/" + std::string(kCoreutilsFile)], 1) << stats.dump();
}

TEST_F(RemoteTest, WasmerApiStaticWebserverTreeByNameAndBySha256) {
  Server server = StartDouble();
  // The container has no name of its own: the registry's answer names it.
  auto r =
      resolver::Resolve("wasmer-tests/volume-static-webserver", Options({server.Url("/graphql")}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Ids(*r), (Strings{"wasmer-tests/volume-static-webserver@0.1.0",
                              "wasmer/static-web-server@1.2.0"}));
  EXPECT_EQ(r->entrypoint, "script");
  const std::string sha =
      Sha256Hex(ReadHostFile(packages_ + "/wasmer-tests--volume-static-webserver@0.1.0.webc"));
  std::filesystem::remove_all(cache_);  // so that the hash is asked of the registry
  auto by_hash = resolver::Resolve("sha256:" + sha, Options({server.Url("/graphql")}));
  ASSERT_TRUE(by_hash) << by_hash.error().message();
  EXPECT_EQ(Ids(*by_hash), (Strings{"sha256:" + sha, "wasmer/static-web-server@1.2.0"}));
}

TEST_F(RemoteTest, WasmerApiMountThenLockfileMountsWithTheServerGone) {
  const std::string lock = tmp_ / "bash.lock.json";
  {
    Server server = StartDouble();
    Mount m("sharrattj/bash", {"--registry", server.Url("/graphql"), "--cache", cache_});
    ASSERT_TRUE(m.ok()) << m.result().err;
    const std::string wasm = ReadHostFile(m / ".webc/commands/bash.wasm");
    EXPECT_EQ(wasm.substr(0, 4), std::string("\0asm", 4));
    CommandResult resolved =
        RunCommand({WebcfsBinary(), "resolve", "sharrattj/bash", "--registry",
                    server.Url("/graphql"), "--cache", cache_, "--lock", lock});
    ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  }
  // The server is stopped: any request would fail.
  Mount m(lock, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_FALSE(ReadHostFile(m / ".webc/commands/bash.wasm").empty());
  Mount offline(lock, {"--cache", cache_, "--offline"});
  EXPECT_TRUE(offline.ok()) << offline.result().err;
}

TEST_F(RemoteTest, WasmerKeywordFollowsWasmerRegistryVariable) {
  Server server = StartDouble();
  CommandResult r = RunCommand(
      {WebcfsBinary(), "resolve", "sharrattj/dash", "--registry", "wasmer", "--cache", cache_},
      {"WASMER_REGISTRY=" + server.Url("/graphql")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sharrattj/coreutils@1.0.16"), std::string::npos) << r.out;
}

TEST_F(RemoteTest, TokenIsSentAsBearer) {
  Server server = StartDouble({"--token", "s3cret"});
  const Strings base = {
      WebcfsBinary(), "resolve", "sharrattj/dash", "--registry", server.Url("/graphql"),
      "--cache",      cache_};
  CommandResult without = RunCommand(base);
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_NE(without.err.find("HTTP 401"), std::string::npos) << without.err;
  EXPECT_NE(without.err.find("--registry-token"), std::string::npos) << without.err;
  Strings with_flag = base;
  with_flag.insert(with_flag.end(), {"--registry-token", "s3cret"});
  CommandResult flag = RunCommand(with_flag);
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  // Another cache: the answers the first run stored would make this one ask nothing.
  Strings other_cache = base;
  other_cache.back() = tmp_ / "cache2";
  CommandResult env = RunCommand(other_cache, {"WASMER_TOKEN=s3cret"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
}

TEST_F(RemoteTest, WarmResolveSendsNoRequestAndOfflineUsesStoredAnswers) {
  WriteIndex();
  Server server = StartDouble();
  for (const std::string& registry : {server.Url("/graphql"), server.Url("/")}) {
    SCOPED_TRACE(registry);
    ASSERT_TRUE(resolver::Resolve("sharrattj/bash", Options({registry})));
    const int before = Stats(server)["requests"];
    auto warm = resolver::Resolve("sharrattj/bash", Options({registry}));
    ASSERT_TRUE(warm) << warm.error().message();
    EXPECT_EQ(Stats(server)["requests"], before) << "answers and packages are cached";
    resolver::ResolveOptions again = Options({registry});
    again.answer_ttl_seconds = 0;  // what a reload does
    ASSERT_TRUE(resolver::Resolve("sharrattj/bash", again));
    EXPECT_GT(Stats(server)["requests"], before);
  }
  server.process->Stop();
  resolver::ResolveOptions offline = Options({server.Url("/graphql")});
  offline.offline = true;
  auto r = resolver::Resolve("sharrattj/bash", offline);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(Ids(*r), (Strings{"sharrattj/bash@1.0.16", "sharrattj/coreutils@1.0.16"}));
  auto unknown = resolver::Resolve("sharrattj/dash", offline);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("offline"), std::string::npos)
      << unknown.error().message();
}

// A mount from stored answers and cached packages sends nothing, so it must
// not pay for loading libcurl (and libssl) either: that doubled its start-up.
TEST_F(RemoteTest, WarmMountDoesNotLoadTheHttpLibrary) {
  WriteIndex();
  Server server = StartDouble();
  for (const std::string& registry : {server.Url("/graphql"), server.Url("/")}) {
    SCOPED_TRACE(registry);
    const Strings args = {"--registry", registry, "--cache", cache_, "--registry-token", "t0k"};
    ASSERT_TRUE(Mount("sharrattj/bash", args).ok()) << "cold mount";
    Mount warm("sharrattj/bash", args);
    ASSERT_TRUE(warm.ok()) << warm.result().err;
    ASSERT_GT(warm.DaemonPid(), 0);
    const std::string maps = ReadHostFile("/proc/" + std::to_string(warm.DaemonPid()) + "/maps");
    ASSERT_FALSE(maps.empty());
    EXPECT_EQ(maps.find("libcurl"), std::string::npos) << maps;
  }
}

TEST_F(RemoteTest, TwoMountsAtOnceDownloadEachPackageOnce) {
  // Slow answers make the two daemons overlap.
  Server server = StartDouble({"--fault", "sleep", "--delay", "1"});
  std::unique_ptr<Mount> a, b;
  const Strings args = {"--registry", server.Url("/graphql"), "--cache", cache_};
  std::thread ta([&] { a = std::make_unique<Mount>("sharrattj/bash", args); });
  std::thread tb([&] { b = std::make_unique<Mount>("sharrattj/bash", args); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a->ok()) << a->result().err;
  ASSERT_TRUE(b->ok()) << b->result().err;
  nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["files"]["/sharrattj--bash@1.0.16.webc"], 1) << stats.dump();
  EXPECT_EQ(stats["files"]["/" + std::string(kCoreutilsFile)], 1) << stats.dump();
}

TEST_F(RemoteTest, RetriesA503AndResumesATruncatedDownload) {
  {
    Server server = StartDouble({"--fault", "503-once"});
    auto r = resolver::Resolve("sharrattj/dash", Options({server.Url("/graphql")}));
    ASSERT_TRUE(r) << r.error().message();
  }
  std::filesystem::remove_all(cache_);
  Server server = StartDouble({"--fault", "truncate-once"});
  auto r = resolver::Resolve("sharrattj/dash", Options({server.Url("/graphql")}));
  ASSERT_TRUE(r) << r.error().message();
  nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["files"]["/" + std::string(kCoreutilsFile)], 2) << "resumed: " << stats.dump();
  ExpectNothingPartial();
}

TEST_F(RemoteTest, StalledDownloadTimesOut) {
  Server server = StartDouble({"--fault", "sleep", "--delay", "5", "--fault-file", kCoreutilsFile});
  resolver::ResolveOptions o = Options({server.Url("/graphql")});
  o.http_timeout_ms = 1000;
  o.http_retries = 0;
  auto r = resolver::Resolve("sharrattj/dash", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sharrattj/coreutils@1.0.16"), std::string::npos)
      << r.error().message();
  ExpectNothingPartial(CoreutilsSha());
}

// A fault injected by the registry double, and what the one line must say.
struct Fault {
  const char* name;
  Strings server_args;
  bool mirror;  // the static mirror (index.json) rather than the API
  Strings message;
};

class RemoteFaultTest : public RemoteTest, public ::testing::WithParamInterface<Fault> {};

TEST_P(RemoteFaultTest, OneLineExitOneNothingMountedNothingPartial) {
  const Fault& f = GetParam();
  if (f.mirror) WriteIndex();
  Strings args = f.server_args;
  args.insert(args.end(), {"--fault-file", kCoreutilsFile});
  Server server = StartDouble(args);
  const std::string registry = f.mirror ? server.Url("/") : server.Url("/graphql");
  Strings parts = f.message;
  parts.push_back("127.0.0.1:" + std::to_string(server.port));
  ExpectMountFails("sharrattj/dash", {"--registry", registry, "--cache", cache_}, parts);
  ExpectNothingPartial(CoreutilsSha());
}

const std::string kCoreutils = "sharrattj/coreutils@1.0.16";

INSTANTIATE_TEST_SUITE_P(
    Faults, RemoteFaultTest,
    ::testing::Values(
        Fault{"truncate",
              {"--fault", "truncate"},
              false,
              {kCoreutils, "attempts", "transfer closed"}},
        Fault{"short", {"--fault", "short"}, true, {kCoreutils, "truncated body"}},
        Fault{"long", {"--fault", "long"}, true, {kCoreutils, "larger than the advertised"}},
        Fault{"long_api", {"--fault", "long"}, false, {kCoreutils, "sha256 mismatch"}},
        Fault{"wrong_hash",
              {"--fault", "wrong-hash"},
              false,
              {kCoreutils, "sha256 mismatch: expected"}},
        Fault{"not_found", {"--fault", "404"}, false, {kCoreutils, "HTTP 404"}},
        Fault{"unauthorized", {"--fault", "401"}, false, {"HTTP 401", "--registry-token"}},
        Fault{
            "malformed_json", {"--fault", "malformed-json"}, false, {"sharrattj/dash", "not JSON"}},
        Fault{"graphql_errors",
              {"--fault", "graphql-errors"},
              false,
              {"sharrattj/dash", "internal registry failure (injected)"}},
        Fault{"redirect_loop", {"--fault", "redirect-loop"}, false, {kCoreutils, "redirect"}},
        Fault{
            "redirect_loop_mirror", {"--fault", "redirect-loop"}, true, {kCoreutils, "redirect"}}),
    [](const ::testing::TestParamInfo<Fault>& info) { return info.param.name; });

TEST_F(RemoteTest, ConnectionRefusedAndMalformedIndex) {
  const std::string nobody = "http://127.0.0.1:" + std::to_string(FreePort());
  ExpectMountFails("sharrattj/dash", {"--registry", nobody + "/graphql", "--cache", cache_},
                   {"sharrattj/dash", nobody});
  std::ofstream(packages_ + "/index.json") << "{\"webcfs_index\": 1, \"packages\": [";
  Server server = StartPythonHttpServer(packages_, work_.path());
  ExpectMountFails("sharrattj/dash", {"--registry", server.Url("/"), "--cache", cache_},
                   {"index.json", "not JSON"});
}

// Publishes t/app@VERSION, whose /data/version.txt says VERSION, where
// the registry double and static mirrors find it.
void Publish(const std::string& packages, const std::string& catalog, const std::string& version) {
  resolver::testing::PackageBuilder("t/app", version)
      .Volume("/data", {{"version.txt", version}})
      .Fs("/data", "/data")
      .WriteTo(packages);
  WriteCatalog(packages, catalog);
  CommandResult indexed = RunCommand({WebcfsBinary(), "index", packages});
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
}

// The names a level of the tree uses are asked for together, not one round
// trip after another: each answer waits, so overlapping queries show.
TEST_F(RemoteTest, WasmerApiAsksForTheNamesOfALevelAtOnce) {
  resolver::testing::PackageBuilder wide("t/wide", "1.0.0");
  for (const char* leaf : {"a", "b", "c", "d"}) {
    resolver::testing::PackageBuilder(std::string("t/") + leaf, "1.0.0")
        .Volume("/data", {{std::string(leaf) + ".txt", leaf}})
        .Fs("/" + std::string(leaf), "/data")
        .WriteTo(packages_);
    wide.Use(leaf, std::string("t/") + leaf + "@^1");
  }
  wide.EmptyFs().WriteTo(packages_);
  WriteCatalog(packages_, catalog_);
  Server server = StartDouble({"--query-delay", "0.3"});
  auto r = resolver::Resolve("t/wide", Options({server.Url("/graphql")}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->packages.size(), 5u);
  nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["graphql"], 5) << stats.dump();
  EXPECT_GT(stats["max_queries_in_flight"], 1) << stats.dump();
}

// Connections opened for one level's queries are reused by the next level
// and by the downloads: a pool that closed them would pay a connection set-up
// per request again.
TEST_F(RemoteTest, WasmerApiReusesConnectionsAcrossLevels) {
  resolver::testing::PackageBuilder root("t/root", "1.0.0");
  for (int i = 0; i < 8; ++i) {
    const std::string mid = "mid" + std::to_string(i), leaf = "leaf" + std::to_string(i);
    resolver::testing::PackageBuilder("t/" + leaf, "1.0.0")
        .Volume("/data", {{leaf + ".txt", leaf}})
        .Fs("/" + leaf, "/data")
        .WriteTo(packages_);
    resolver::testing::PackageBuilder("t/" + mid, "1.0.0")
        .Use(leaf, "t/" + leaf + "@^1")
        .EmptyFs()
        .WriteTo(packages_);
    root.Use(mid, "t/" + mid + "@^1");
  }
  root.EmptyFs().WriteTo(packages_);
  WriteCatalog(packages_, catalog_);
  // The delays make each level's requests overlap, so each level needs as
  // many connections as it has requests.
  Server server = StartDouble({"--query-delay", "0.2", "--file-delay", "0.2"});
  auto r = resolver::Resolve("t/root", Options({server.Url("/graphql")}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->packages.size(), 17u);
  nlohmann::json stats = Stats(server);
  EXPECT_EQ(stats["requests"], 34) << stats.dump();
  // The most requests at once, one connection for the statistics, one spare.
  EXPECT_LE(stats["connections"].get<int>(), stats["max_in_flight"].get<int>() + 2) << stats.dump();
}

TEST_F(RemoteTest, ReloadPicksUpANewlyPublishedVersion) {
  Publish(packages_, catalog_, "1.0.0");
  Server api = StartDouble();
  Server mirror = StartPythonHttpServer(packages_, work_.path());
  Mount from_api("t/app", {"--registry", api.Url("/graphql"), "--cache", cache_});
  ASSERT_TRUE(from_api.ok()) << from_api.result().err;
  Mount from_mirror("t/app", {"--registry", mirror.Url("/"), "--cache", cache_});
  ASSERT_TRUE(from_mirror.ok()) << from_mirror.result().err;
  Publish(packages_, catalog_, "1.1.0");
  for (const Mount* m : {&from_api, &from_mirror}) {
    EXPECT_EQ(ReadHostFile(*m / "data/version.txt"), "1.0.0");
    // The stored answers are fresh (10 minutes), but a reload asks again.
    CommandResult reload = RunCommand({WebcfsBinary(), "reload", m->path()});
    ASSERT_EQ(reload.exit_code, 0) << reload.err;
    EXPECT_EQ(ReadHostFile(*m / "data/version.txt"), "1.1.0") << m->path();
  }
}

// The hex names of the cache entries of a resolution's packages.
Strings EntriesOf(const std::string& spec, const resolver::ResolveOptions& options) {
  auto r = resolver::Resolve(spec, options);
  EXPECT_TRUE(r) << r.error().message();
  Strings out;
  if (r) {
    for (const auto& p : r->packages) out.push_back(p.webc_sha256);
  }
  return out;
}

TEST_F(RemoteTest, CacheLimitEvictsUnusedEntriesNeverOnesAMountServes) {
  resolver::testing::PackageBuilder("t/unused", "1.0.0")
      .Volume("/data", {{"big", std::string(100'000, 'u')}})
      .WriteTo(packages_);
  WriteIndex();
  Server mirror = StartPythonHttpServer(packages_, work_.path());
  const Strings registry = {"--registry", mirror.Url("/"), "--cache", cache_};
  // The entry of a package no mount serves, used first (least recently).
  const Strings unused = EntriesOf("t/unused", Options({mirror.Url("/")}));
  ASSERT_EQ(unused.size(), 1u);
  Mount bash("sharrattj/bash", registry);
  ASSERT_TRUE(bash.ok()) << bash.result().err;
  Strings limited = registry;
  limited.insert(limited.end(), {"--cache-max-bytes", "1"});
  Mount dash("sharrattj/dash", limited);
  ASSERT_TRUE(dash.ok()) << dash.result().err;

  auto entry = [&](const std::string& hex) { return cache_ + "/" + hex + ".webc"; };
  for (const std::string& hex : unused) {
    EXPECT_FALSE(std::filesystem::exists(entry(hex))) << hex;
    EXPECT_FALSE(std::filesystem::exists(cache_ + "/verified/" + hex)) << hex;
  }
  for (const Mount* m : {&bash, &dash}) {
    auto r = nlohmann::json::parse(ReadHostFile(*m / ".webc/resolution.json"));
    for (const auto& p : r["packages"]) {
      EXPECT_TRUE(std::filesystem::exists(entry(p["webc_sha256"]))) << p.dump();
    }
  }
  EXPECT_EQ(ReadHostFile(bash / ".webc/commands/bash.wasm").substr(0, 4), std::string("\0asm", 4));
  // Served entries stay, however small the limit; gone with the mounts, they can go.
  bash.Unmount();
  dash.Unmount();
  resolver::ResolveOptions tiny = Options({mirror.Url("/")});
  tiny.cache_max_bytes = 1;
  const Strings kept = EntriesOf("sharrattj/dash", tiny);
  for (const auto& e : std::filesystem::directory_iterator(cache_)) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with(".webc")) continue;
    EXPECT_NE(std::find(kept.begin(), kept.end(), name.substr(0, 64)), kept.end()) << name;
  }
}

// True once every thread of `pid` has exited (or the process was reaped).
bool AllThreadsGone(pid_t pid) {
  std::error_code ec;
  size_t threads = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++threads;
  }
  if (ec) return true;
  return threads <= 1 && !ProcessAlive(pid);
}

TEST_F(RemoteTest, AKilledDaemonPinsNoCacheEntry) {
  Mount bash("sharrattj/bash", {"--registry", packages_, "--cache", cache_});
  ASSERT_TRUE(bash.ok()) << bash.result().err;
  const std::string bash_entry =
      cache_ + "/" + Sha256Hex(ReadHostFile(packages_ + "/sharrattj--bash@1.0.16.webc")) + ".webc";
  ASSERT_TRUE(std::filesystem::exists(bash_entry));
  resolver::ResolveOptions tiny = Options({packages_});
  tiny.cache_max_bytes = 1;
  EntriesOf("sharrattj/dash", tiny);
  EXPECT_TRUE(std::filesystem::exists(bash_entry)) << "served by a live daemon";
  const pid_t daemon = bash.DaemonPid();
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  // A killed process's files close as its last thread exits, which may come
  // after its leader shows as a zombie.
  while (!AllThreadsGone(daemon)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EntriesOf("sharrattj/dash", tiny);
  EXPECT_FALSE(std::filesystem::exists(bash_entry)) << "the dead daemon's lease is gone";
}

}  // namespace
}  // namespace webcfs::testing
