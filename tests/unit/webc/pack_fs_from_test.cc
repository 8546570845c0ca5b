// The webcfs extension to wasmer.toml's [fs]: `"/guest" = { from = "ns/name",
// volume = "dir" }` mounts a dependency's volume (package.fs `from`).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "resolver/pack/pack.h"
#include "webc/container.h"
#include "webc/writer.h"

namespace webcfs::webc {
namespace {

namespace fs = std::filesystem;

class PackFsFromTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("webcfs-pack-from-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pkg" / "etc");
    std::ofstream(dir_ / "pkg" / "etc" / "conf") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<void> Pack(const std::string& fs_table) {
    std::ofstream(dir_ / "pkg" / "wasmer.toml")
        << "[package]\nname = \"t/app\"\nversion = \"1.0.0\"\n\n"
        << "[dependencies]\n\"t/data\" = \"^1\"\n\n[fs]\n"
        << fs_table;
    return pack::PackDirectory((dir_ / "pkg").string(), (dir_ / "out.webc").string());
  }

  fs::path dir_;
};

TEST_F(PackFsFromTest, MapsADependencyVolumeInFileOrder) {
  auto r = Pack(
      "\"/etc/app\" = \"etc\"\n"
      "\"/usr/share/data\" = { from = \"t/data\", volume = \"share\" }\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto c = Container::OpenFile((dir_ / "out.webc").string());
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto& mappings = (*c)->manifest().fs;
  ASSERT_EQ(mappings.size(), 2u);
  EXPECT_EQ(mappings[0].from, std::nullopt);
  EXPECT_EQ(mappings[0].volume_name, "/etc");
  EXPECT_EQ(mappings[1].from, "t/data");
  EXPECT_EQ(mappings[1].volume_name, "/share");
  EXPECT_EQ(mappings[1].mount_path, "/usr/share/data");
  // No local volume is made for it.
  EXPECT_EQ((*c)->FindVolume("/share"), nullptr);
  EXPECT_NE((*c)->FindVolume("/etc"), nullptr);
}

TEST_F(PackFsFromTest, ErrorsPointIntoWasmerToml) {
  struct Case {
    const char* table;
    const char* needle;
  } cases[] = {
      {"\"/d\" = { from = \"t/other\", volume = \"share\" }\n",
       "wasmer.toml:9:17: fs '/d': from names 't/other', which is not in [dependencies]"},
      {"\"/d\" = { from = \"t/data\" }\n", "a table needs both from and volume"},
      {"\"/d\" = { from = \"t/data\", volume = \"share\", extra = 1 }\n", "unknown key 'extra'"},
      {"\"/d\" = { from = \"t/data\", volume = \"../x\" }\n", "fs '/d': volume: "},
      {"\"/d\" = { from = 3, volume = \"x\" }\n", "must be a string"},
  };
  for (const auto& c : cases) {
    auto r = Pack(c.table);
    ASSERT_FALSE(r.ok()) << c.table;
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << c.table << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace webcfs::webc
