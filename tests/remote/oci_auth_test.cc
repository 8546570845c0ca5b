// OCI registry authentication end to end: Debian's docker-registry with
// htpasswd (Basic) auth and with token auth pointing at token_server.py, and
// credentials from each of the auth files docker, podman and skopeo read.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "resolver/registry_auth.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"
#include "tests/unit/resolver/package_util.h"

namespace webcfs::testing {
namespace {

using Strings = std::vector<std::string>;
using resolver::testing::PackageBuilder;

class OciAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Only the files this test writes may hold credentials.
    for (const char* name : {"REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "HOME"}) {
      const char* v = ::getenv(name);
      saved_[name] = v != nullptr ? std::optional<std::string>(v) : std::nullopt;
    }
    ::unsetenv("REGISTRY_AUTH_FILE");
    ::setenv("XDG_RUNTIME_DIR", (tmp_ / "run").c_str(), 1);
    ::setenv("HOME", (tmp_ / "home").c_str(), 1);
    std::filesystem::create_directories(packages_);
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

  void UseRegistry(const Server& registry) {
    authority_ = "127.0.0.1:" + std::to_string(registry.port);
    url_ = "oci+http://" + authority_ + "/fleet";
  }

  // An auth file at `path` with `key` → user:password.
  static void WriteAuthFile(const std::string& path, const std::string& key,
                            const std::string& user, const std::string& password) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    nlohmann::json doc = {
        {"auths", {{key, {{"auth", resolver::Base64Encode(user + ":" + password)}}}}}};
    std::ofstream(path) << doc.dump();
  }

  std::string Lib() const {
    return PackageBuilder("t/lib", "1.0.0")
        .Volume("/lib", {{"version", "1.0.0\n"}})
        .Fs("/lib", "/lib")
        .WriteTo(packages_);
  }

  CommandResult Push(const std::string& file) const {
    return RunCommand({WebcfsBinary(), "push", file, url_});
  }

  void ExpectPushNeedsCredentials(const std::string& file) const {
    CommandResult refused = Push(file);
    EXPECT_EQ(refused.exit_code, 1);
    for (const std::string part : {"401", "run with credentials in REGISTRY_AUTH_FILE"}) {
      EXPECT_NE(refused.err.find(part), std::string::npos) << refused.err;
    }
    EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  }

  // The mount of t/lib must succeed (fresh cache each time: every pull asks the registry).
  void ExpectMounts() {
    Mount m("t/lib", {"--registry", url_, "--cache", tmp_ / ("cache" + std::to_string(++mounts_))});
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_EQ(ReadHostFile(m / "lib/version"), "1.0.0\n");
  }

  void ExpectMountFails(const Strings& parts) {
    testing::ExpectMountFails(
        "t/lib", {"--registry", url_, "--cache", tmp_ / ("cache" + std::to_string(++mounts_))},
        parts);
  }

  TempDir tmp_{"webcfs-oci-auth"};
  std::string packages_ = tmp_ / "packages";
  std::map<std::string, std::optional<std::string>> saved_;
  std::string authority_;
  std::string url_;
  int mounts_ = 0;
};

TEST_F(OciAuthTest, HtpasswdCredentialsComeFromEachAuthFileInOrder) {
  Server registry =
      StartDockerRegistry(tmp_ / "srv", HtpasswdConfig(tmp_ / "srv", "alice", "s3cret"));
  UseRegistry(registry);
  const std::string file = Lib();

  // No credentials anywhere: one line saying where to put them.
  ExpectPushNeedsCredentials(file);

  // podman's file, with the registry key as podman writes it.
  const std::string runtime_file = tmp_ / "run/containers/auth.json";
  WriteAuthFile(runtime_file, authority_, "alice", "s3cret");
  CommandResult pushed = Push(file);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  ExpectMounts();
  std::filesystem::remove(runtime_file);
  ExpectMountFails({"401", "run with credentials in REGISTRY_AUTH_FILE", authority_});

  // docker's file, keyed by a URL as `docker login` writes some keys.
  WriteAuthFile(tmp_ / "home/.docker/config.json", "http://" + authority_ + "/v2/", "alice",
                "s3cret");
  ExpectMounts();

  // REGISTRY_AUTH_FILE comes first: its wrong password is used, and named.
  const std::string first = tmp_ / "auth-first.json";
  WriteAuthFile(first, authority_, "alice", "wrong");
  ::setenv("REGISTRY_AUTH_FILE", first.c_str(), 1);
  ExpectMountFails({"401", "refused the credentials for " + authority_, first});
  WriteAuthFile(first, authority_, "alice", "s3cret");
  ExpectMounts();
}

TEST_F(OciAuthTest, LockfilePinsMountWithTheRegistrysCredentials) {
  Server registry =
      StartDockerRegistry(tmp_ / "srv", HtpasswdConfig(tmp_ / "srv", "alice", "s3cret"));
  UseRegistry(registry);
  const std::string auth_file = tmp_ / "auth.json";
  WriteAuthFile(auth_file, authority_, "alice", "s3cret");
  ::setenv("REGISTRY_AUTH_FILE", auth_file.c_str(), 1);
  ASSERT_EQ(Push(Lib()).exit_code, 0);
  const std::string lock = tmp_ / "webcfs.lock.json";
  CommandResult resolved = RunCommand({WebcfsBinary(), "resolve", "t/lib", "--registry", url_,
                                       "--cache", tmp_ / "cache", "--lock", lock});
  ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  // The pin is an OCI source, asked with the registry's credentials like a
  // tag; a blob URL in its place would be a plain URL, sent none.
  {
    Mount locked(lock, {"--cache", tmp_ / "fresh-cache"});
    ASSERT_TRUE(locked.ok()) << locked.result().err;
    EXPECT_EQ(ReadHostFile(locked / "lib/version"), "1.0.0\n");
  }
  ::unsetenv("REGISTRY_AUTH_FILE");
  testing::ExpectMountFails(lock, {"--cache", tmp_ / "other-cache"},
                            {"401", "run with credentials in REGISTRY_AUTH_FILE", authority_});
}

TEST_F(OciAuthTest, TokenServerGivesAnonymousPullAndCredentialedPushTokens) {
  TokenServer tokens = StartTokenServer(tmp_ / "tok", "bob:hunter2");
  Server registry = StartDockerRegistry(tmp_ / "srv", tokens.RegistryConfig());
  UseRegistry(registry);
  const std::string file = Lib();

  // An anonymous token grants no push.
  ExpectPushNeedsCredentials(file);

  const std::string auth_file = tmp_ / "auth.json";
  WriteAuthFile(auth_file, authority_, "bob", "hunter2");
  ::setenv("REGISTRY_AUTH_FILE", auth_file.c_str(), 1);
  CommandResult pushed = Push(file);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  const nlohmann::json after_push = Stats(tokens.server);
  EXPECT_GT(after_push["authenticated"].get<int>(), 0) << after_push;
  // Credentials never reach the output.
  EXPECT_EQ(pushed.out.find("hunter2"), std::string::npos) << pushed.out;

  // Pulls need no credentials: anonymous pull tokens.
  ::unsetenv("REGISTRY_AUTH_FILE");
  ExpectMounts();
  const nlohmann::json after_pull = Stats(tokens.server);
  EXPECT_GT(after_pull["anonymous"].get<int>(), after_push["anonymous"].get<int>()) << after_pull;

  // An anonymous token may not list the catalog (401): a catalog mount is
  // lookup-only and says so; with credentials it lists.
  auto names = [](const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.insert(e.path().filename());
    return out;
  };
  {
    Mount catalog("--catalog", {"--registry", url_, "--cache", tmp_ / "catalog-cache"});
    ASSERT_TRUE(catalog.ok()) << catalog.result().err;
    EXPECT_NE(catalog.result().err.find("_catalog: HTTP 401"), std::string::npos)
        << catalog.result().err;
    EXPECT_TRUE(names(catalog.path()).empty());
    EXPECT_EQ(ReadHostFile(catalog / "t/lib@1/lib/version"), "1.0.0\n");
  }
  ::setenv("REGISTRY_AUTH_FILE", auth_file.c_str(), 1);
  {
    Mount catalog("--catalog", {"--registry", url_, "--cache", tmp_ / "catalog-cache"});
    ASSERT_TRUE(catalog.ok()) << catalog.result().err;
    EXPECT_EQ(names(catalog / "t"), std::set<std::string>{"lib@1.0.0"});
  }

  // Wrong credentials are refused by the token server, in one line.
  WriteAuthFile(auth_file, authority_, "bob", "wrong");
  ::setenv("REGISTRY_AUTH_FILE", auth_file.c_str(), 1);
  ExpectMountFails({"401", "refused the credentials for " + authority_, auth_file});
}

}  // namespace
}  // namespace webcfs::testing
