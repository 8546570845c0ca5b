// The shipped systemd unit and mount helper, as installed by `cmake --install`.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "service_test_util.h"
#include "tests/common/package_builder.h"

namespace webcfs::service_test {
namespace {

// Installs the project into a DESTDIR and returns the unit's and helper's paths.
class InstalledTree : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(root_.path().empty());
    auto r = RunCommand({"cmake", "--install", BuildDir()}, {"DESTDIR=" + root_.path()});
    ASSERT_EQ(r.exit_code, 0) << r.all();
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_.path())) {
      const std::string name = e.path().filename();
      if (name == "webcfs@.service") unit_ = e.path();
      if (name == "webcfs-catalog.service") catalog_unit_ = e.path();
      if (name == "mount.fuse.webcfs") helper_ = e.path();
      if (name == "webcfs" && e.is_regular_file()) binary_ = e.path();
    }
  }
  testing::TempDir root_{"daemon-install"};
  std::string unit_, catalog_unit_, helper_, binary_;
};

TEST_F(InstalledTree, InstallsBinaryUnitAndHelper) {
  ASSERT_FALSE(unit_.empty());
  ASSERT_FALSE(helper_.empty());
  ASSERT_FALSE(binary_.empty());
  // mount(8) finds helpers only in /sbin.
  EXPECT_EQ(helper_, root_.path() + "/sbin/mount.fuse.webcfs");
  struct stat st;
  ASSERT_EQ(stat(helper_.c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  // ExecStart names the installed binary.
  const std::string unit = ReadHostFile(unit_);
  const std::string installed_binary = binary_.substr(root_.path().size());
  EXPECT_NE(unit.find("ExecStart=" + installed_binary +
                      " mount --foreground --config "
                      "/etc/webcfs/%i.json"),
            std::string::npos)
      << unit;
  EXPECT_NE(unit.find("\nType=notify\n"), std::string::npos);
  EXPECT_NE(unit.find("\nWatchdogSec="), std::string::npos);
  EXPECT_NE(unit.find("\nRestart=on-failure\n"), std::string::npos);
  EXPECT_NE(unit.find("\nExecReload="), std::string::npos);
  EXPECT_NE(unit.find("\nLimitNOFILE="), std::string::npos);
}

// The catalog's unit: the template's service, mounting /etc/webcfs/catalog.json.
TEST_F(InstalledTree, InstallsCatalogUnit) {
  ASSERT_FALSE(catalog_unit_.empty());
  ASSERT_FALSE(binary_.empty());
  const std::string unit = ReadHostFile(catalog_unit_);
  const std::string installed_binary = binary_.substr(root_.path().size());
  EXPECT_NE(unit.find("ExecStart=" + installed_binary +
                      " mount --foreground --catalog --config /etc/webcfs/catalog.json"),
            std::string::npos)
      << unit;
  EXPECT_NE(
      unit.find("ExecReload=" + installed_binary + " reload --config /etc/webcfs/catalog.json"),
      std::string::npos)
      << unit;
  EXPECT_EQ(unit.find("%i"), std::string::npos) << unit;
  EXPECT_NE(unit.find("\nType=notify\n"), std::string::npos);
  EXPECT_NE(unit.find("\nWantedBy=multi-user.target\n"), std::string::npos);
}

// systemd-analyze verify, against the installed tree as root directory (so
// ExecStart's binary exists there) plus the system's own units, which the
// template's dependencies (sysinit.target, ...) name.
TEST_F(InstalledTree, SystemdAnalyzeVerifyPasses) {
  ASSERT_FALSE(unit_.empty());
  std::error_code ec;
  std::filesystem::create_directories(root_ / "usr/lib/systemd", ec);
  std::filesystem::copy("/usr/lib/systemd/system", root_ / "usr/lib/systemd/system",
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::skip_existing |
                            std::filesystem::copy_options::copy_symlinks,
                        ec);
  ASSERT_FALSE(ec) << ec.message();
  // The template's instance: verify a concrete unit name.
  for (const char* name : {"webcfs@example.service", "webcfs-catalog.service"}) {
    auto r = RunCommand(
        {"systemd-analyze", "verify", "--man=no", "--root=" + root_.path(), std::string(name)});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.all();
    EXPECT_EQ(r.all(), "") << name << ": systemd-analyze warned";
  }

  // And it does fail when something is wrong: a unit whose ExecStart does not exist.
  std::filesystem::remove(binary_);
  auto broken = RunCommand({"systemd-analyze", "verify", "--man=no", "--root=" + root_.path(),
                            "webcfs@example.service"});
  EXPECT_NE(broken.exit_code, 0) << broken.all();
}

// mount(8)'s options reach `webcfs mount -o` unchanged; webcfs applies its
// settings (registry=, cache=, ...) and FUSE options, ignores generic ones
// (ro, nofail, x-systemd.*) and refuses unknown ones, naming them.
TEST_F(InstalledTree, HelperPassesOptionsToWebcfs) {
  ASSERT_FALSE(helper_.empty());
  const std::string options =
      "ro,nofail,_netdev,x-systemd.automount,registry=/srv/a,registry=/srv/b,allow_other,"
      "cache=/var/cache/w,uid=7,threads=2,log_level=debug,xattr";
  // -f (fake): print the webcfs command line instead of running it.
  auto r = RunCommand({helper_, "ns/tool@^1", "/mnt/x", "-f", "-o", options},
                      {"WEBCFS_BIN=/opt/webcfs"});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(r.all(), "mount.fuse.webcfs: /opt/webcfs mount ns/tool@^1 /mnt/x -o " + options + "\n");
  // The source `catalog` is a catalog mount.
  auto catalog = RunCommand({helper_, "catalog", "/mnt/wasm", "-f", "-o", "registry=/srv/a"},
                            {"WEBCFS_BIN=/opt/webcfs"});
  EXPECT_EQ(catalog.exit_code, 0) << catalog.all();
  EXPECT_EQ(catalog.all(),
            "mount.fuse.webcfs: /opt/webcfs mount --catalog /mnt/wasm -o registry=/srv/a\n");
  ASSERT_FALSE(binary_.empty());
  auto bad = RunCommand({helper_, "ns/tool", "/mnt/x", "-o", "registry=/srv,frobnicate"},
                        {"WEBCFS_BIN=" + binary_});
  EXPECT_EQ(bad.exit_code, 2) << bad.all();
  EXPECT_NE(bad.all().find("unknown mount option 'frobnicate'"), std::string::npos) << bad.all();
}

}  // namespace
}  // namespace webcfs::service_test
