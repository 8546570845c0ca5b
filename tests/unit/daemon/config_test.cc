#include "daemon/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "daemon/logging.h"

namespace webcfs::daemon {
namespace {

Result<MountConfig> Parse(const std::string& text) {
  MountConfig c;
  auto r = ApplyConfigJson(text, "x.json", &c);
  if (!r) return std::move(r.error());
  return c;
}

std::string ErrorOf(const std::string& text) {
  auto r = Parse(text);
  if (r) return "(no error)";
  return r.error().message();
}

TEST(ConfigTest, EveryKey) {
  auto c = Parse(R"({
    "package": "ns/tool@^1", "mountpoint": "/mnt/x", "registries": ["/a", "/b"],
    "cache_dir": "/var/cache/webcfs", "mount_options": ["allow_other", "xattr"],
    "uid": 1000, "gid": 100, "meta_dir": "ctl", "threads": 2, "verify": true,
    "log_level": "debug"})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->spec, "ns/tool@^1");
  EXPECT_EQ(c->mountpoint, "/mnt/x");
  EXPECT_EQ(c->registries, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(c->cache_dir, "/var/cache/webcfs");
  EXPECT_EQ(c->mount_options, (std::vector<std::string>{"allow_other", "xattr"}));
  EXPECT_EQ(c->uid, 1000);
  EXPECT_EQ(c->gid, 100);
  EXPECT_EQ(c->meta_dir, "ctl");
  EXPECT_FALSE(c->no_meta_dir);
  EXPECT_EQ(c->threads, 2u);
  EXPECT_TRUE(c->verify);
  EXPECT_EQ(c->log_level, "debug");
}

TEST(ConfigTest, RemoteRegistriesAndTokenKeys) {
  auto c = Parse(R"({"registries": ["reg", "https://m.test/webc/", "wasmer"],
                     "registry_token": "t0k", "offline": true})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->registry_token, "t0k");
  EXPECT_TRUE(c->offline);
  // Folders become absolute; URLs and the word `wasmer` stay as given.
  MakePathsAbsolute("/etc/webcfs", &*c);
  EXPECT_EQ(c->registries,
            (std::vector<std::string>{"/etc/webcfs/reg", "https://m.test/webc/", "wasmer"}));
}

TEST(ConfigTest, EmptyObjectKeepsDefaults) {
  MountConfig c;
  c.spec = "from-cli";
  c.threads = 3;
  ASSERT_TRUE(ApplyConfigJson("{}", "x.json", &c));
  EXPECT_EQ(c.spec, "from-cli");
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.meta_dir, ".webc");
}

TEST(ConfigTest, LockfileIsTheSpec) {
  auto c = Parse(R"({"lockfile": "/etc/webcfs/x.lock.json"})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->spec, "/etc/webcfs/x.lock.json");
  EXPECT_EQ(ErrorOf(R"({"lockfile": "/l.json", "package": "a/b"})"),
            "x.json: key 'package': give either 'package' or 'lockfile', not both");
}

TEST(ConfigTest, MetaDirCanBeDisabled) {
  for (const char* text : {R"({"meta_dir": null})", R"({"meta_dir": false})"}) {
    auto c = Parse(text);
    ASSERT_TRUE(c) << text;
    EXPECT_TRUE(c->no_meta_dir) << text;
  }
  EXPECT_NE(ErrorOf(R"({"meta_dir": "a/b"})").find("key 'meta_dir'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"meta_dir": ".."})").find("key 'meta_dir'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"meta_dir": true})").find("key 'meta_dir'"), std::string::npos);
}

TEST(ConfigTest, UnknownKeyIsNamed) {
  EXPECT_EQ(
      ErrorOf(R"({"mountpiont": "/mnt/x"})").rfind("x.json: key 'mountpiont': unknown key", 0), 0u)
      << ErrorOf(R"({"mountpiont": "/mnt/x"})");
}

TEST(ConfigTest, WrongTypesNameTheKey) {
  EXPECT_EQ(ErrorOf(R"({"mountpoint": 3})"), "x.json: key 'mountpoint': expected a string");
  EXPECT_EQ(ErrorOf(R"({"registries": "/srv"})"),
            "x.json: key 'registries': expected an array of strings");
  EXPECT_EQ(ErrorOf(R"({"registries": ["/srv", 1]})"),
            "x.json: key 'registries[1]': expected a string");
  EXPECT_EQ(ErrorOf(R"({"threads": 0})"), "x.json: key 'threads': expected an integer in 1..64");
  EXPECT_EQ(ErrorOf(R"({"threads": 1.5})"), "x.json: key 'threads': expected an integer in 1..64");
  EXPECT_EQ(ErrorOf(R"({"threads": 18446744073709551615})"),
            "x.json: key 'threads': expected an integer in 1..64");
  EXPECT_EQ(ErrorOf(R"({"uid": -1})"), "x.json: key 'uid': expected an integer in 0..4294967294");
  EXPECT_EQ(ErrorOf(R"({"verify": "yes"})"), "x.json: key 'verify': expected true or false");
  EXPECT_EQ(ErrorOf(R"({"package": ""})"), "x.json: key 'package': must not be empty");
  EXPECT_NE(ErrorOf(R"({"log_level": "loud"})").find("key 'log_level': unknown log level 'loud'"),
            std::string::npos);
}

TEST(ConfigTest, NotAnObjectOrNotJson) {
  EXPECT_EQ(ErrorOf("[1, 2]"), "x.json: expected a JSON object");
  const std::string bad = ErrorOf("{\"threads\": 2,\n}");
  EXPECT_EQ(bad.rfind("x.json: ", 0), 0u) << bad;
  EXPECT_NE(bad.find("line 2"), std::string::npos) << bad;
}

TEST(ConfigTest, DuplicateKeyIsRefusedNamingTheFileAndKey) {
  EXPECT_EQ(ErrorOf(R"({"threads": 2, "mountpoint": "/m", "threads": 4})"),
            "x.json: key 'threads': appears more than once");
  // Even with the same value twice, and for two spellings of the spec.
  EXPECT_EQ(ErrorOf(R"({"mountpoint": "/m", "mountpoint": "/m"})"),
            "x.json: key 'mountpoint': appears more than once");
  EXPECT_EQ(ErrorOf(R"({"package": "a/b", "lockfile": "/x.json", "package": "a/b"})"),
            "x.json: key 'package': appears more than once");
  // Nested objects keep their own keys.
  EXPECT_EQ(ErrorOf(R"({"threads": {"a": 1, "a": 2}})"), "x.json: key 'a': appears more than once");
  EXPECT_EQ(ErrorOf(R"({"threads": {"threads": 1}})"),
            "x.json: key 'threads': expected an integer in 1..64");
}

TEST(ConfigTest, FailedApplyLeavesConfigUnchanged) {
  MountConfig c;
  c.mountpoint = "/keep";
  EXPECT_FALSE(ApplyConfigJson(R"({"mountpoint": "/new", "threads": "x"})", "x.json", &c));
  EXPECT_EQ(c.mountpoint, "/keep");
}

TEST(ConfigTest, FileErrorsNameTheFile) {
  MountConfig c;
  auto missing = ApplyConfigFile("/nonexistent/webcfs.json", &c);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nonexistent/webcfs.json"), std::string::npos);

  char path[] = "/tmp/daemon-config-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << R"({"threads": 2, "bogus": 1})";
  }
  auto bad = ApplyConfigFile(path, &c);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message().rfind(std::string(path) + ": key 'bogus': unknown key", 0), 0u)
      << bad.error().message();
  std::remove(path);
}

TEST(LogLevelTest, Names) {
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
  EXPECT_FALSE(ParseLogLevel("DEBUG"));
}

TEST(ConfigTest, LogFile) {
  auto c = Parse(R"({"log_file": "/var/log/webcfs.log"})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->log_file, "/var/log/webcfs.log");
  EXPECT_EQ(ErrorOf(R"({"log_file": ""})"), "x.json: key 'log_file': must not be empty");
  EXPECT_EQ(ErrorOf(R"({"log_file": 1})"), "x.json: key 'log_file': expected a string");
}

}  // namespace
}  // namespace webcfs::daemon
