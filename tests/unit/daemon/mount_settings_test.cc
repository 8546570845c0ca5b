// The settings table (daemon/mount_settings.h) is the one source of every
// `webcfs mount` setting: its config keys and fstab options set the same field
// as its flag, -o sorts settings, FUSE options and generic mount(8) options,
// and README.md documents every key and option the table has.
#include "daemon/mount_settings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/config.h"

namespace webcfs::daemon {
namespace {

std::string Readme() {
  std::ifstream in(std::string(WEBCFS_SOURCE_DIR) + "/README.md");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A value each kind of setting accepts, as JSON and as fstab text.
std::pair<nlohmann::json, std::string> SampleValue(const MountSetting& s) {
  return std::visit(
      Overloaded{
          [&](std::string MountConfig::*) -> std::pair<nlohmann::json, std::string> {
            return s.config_key == "log_level" ? std::pair{nlohmann::json("debug"), "debug"}
                                               : std::pair{nlohmann::json("ctl"), "ctl"};
          },
          [](std::vector<std::string> MountConfig::*) -> std::pair<nlohmann::json, std::string> {
            return {nlohmann::json::array({"/srv/a"}), "/srv/a"};
          },
          [](bool MountConfig::*) -> std::pair<nlohmann::json, std::string> {
            return {nlohmann::json(true), ""};
          },
          [](auto) -> std::pair<nlohmann::json, std::string> {
            return {nlohmann::json(7), "7"};
          },
      },
      s.field);
}

bool SameField(const MountSetting& s, const MountConfig& a, const MountConfig& b) {
  return std::visit([&](auto m) { return a.*m == b.*m; }, s.field);
}

TEST(MountSettingsTest, ConfigKeyAndFstabOptionSetTheSameFieldAsTheFlag) {
  size_t checked = 0;
  for (const MountSetting& s : MountSettings()) {
    if (s.config_key.empty() || s.fstab_key.empty()) continue;
    SCOPED_TRACE(std::string(s.flag));
    const auto [json, text] = SampleValue(s);
    MountConfig from_file, from_fstab, defaults;
    const std::string doc = nlohmann::json{{std::string(s.config_key), json}}.dump();
    ASSERT_TRUE(ApplyConfigJson(doc, "x.json", &from_file));
    const std::string item = std::string(s.fstab_key) + (text.empty() ? "" : "=" + text);
    ASSERT_TRUE(ApplyDashOOptions({item}, &from_fstab));
    EXPECT_TRUE(SameField(s, from_file, from_fstab));
    EXPECT_FALSE(SameField(s, from_file, defaults)) << "the sample is the default";
    MountConfig copied;
    CopySetting(s, from_file, &copied);
    EXPECT_TRUE(SameField(s, copied, from_file));
    ++checked;
  }
  EXPECT_GE(checked, 8u);
}

TEST(MountSettingsTest, DashOSortsSettingsFuseAndGenericOptions) {
  MountConfig c;
  ASSERT_TRUE(ApplyDashOOptions(
      {"ro,registry=/a,allow_other", "nofail,x-systemd.automount,verify", "registry=/b,threads=2"},
      &c));
  EXPECT_EQ(c.registries, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(c.verify);
  EXPECT_EQ(c.threads, 2u);
  EXPECT_EQ(c.mount_options, (std::vector<std::string>{"ro", "allow_other"}));
}

TEST(MountSettingsTest, DashOErrorsNameTheOption) {
  auto error = [](const std::string& item) {
    MountConfig c;
    auto r = ApplyDashOOptions({item}, &c);
    return r ? std::string() : r.error().message();
  };
  const std::string unknown = error("frobnicate");
  EXPECT_NE(unknown.find("unknown mount option 'frobnicate' (known: allow_other"),
            std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("registry="), std::string::npos) << unknown;
  EXPECT_EQ(error("registry"), "mount option 'registry' needs a value (registry=...)");
  EXPECT_EQ(error("threads=0"), "mount option 'threads': '0': expected an integer in 1..64");
  EXPECT_EQ(error("verify=yes"), "mount option 'verify': 'yes': takes no value");
  EXPECT_NE(error("meta_dir=a/b").find("not a single path component"), std::string::npos);
}

TEST(MountSettingsTest, FuseOptionsApplyAndUnknownOnesAreRefused) {
  fuse::Options o;
  ASSERT_TRUE(ApplyFuseOptions({"allow_other,xattr", "no_splice"}, &o));
  EXPECT_TRUE(o.allow_other);
  EXPECT_TRUE(o.xattr);
  EXPECT_FALSE(o.splice);
  auto bad = ApplyFuseOptions({"registry=/a"}, &o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("unknown mount option 'registry=/a'"), std::string::npos);
}

// README.md names every configuration key, fstab option and FUSE option.
TEST(MountSettingsTest, ReadmeDocumentsEveryKeyAndOption) {
  const std::string readme = Readme();
  ASSERT_FALSE(readme.empty());
  for (const MountSetting& s : MountSettings()) {
    if (!s.config_key.empty()) {
      EXPECT_NE(readme.find("`" + std::string(s.config_key) + "`"), std::string::npos)
          << "README.md does not name the configuration key " << s.config_key;
    }
    if (!s.fstab_key.empty()) {
      const std::string key(s.fstab_key);
      EXPECT_TRUE(readme.find("`" + key + "=") != std::string::npos ||
                  readme.find("`" + key + "`") != std::string::npos)
          << "README.md does not name the fstab option " << key;
    }
  }
  for (const FuseOption& o : FuseOptions()) {
    EXPECT_NE(readme.find("`" + std::string(o.name) + "`"), std::string::npos)
        << "README.md does not name the mount option " << o.name;
  }
}

}  // namespace
}  // namespace webcfs::daemon
