// Nothing outside the package is reachable through a mount (docs/architecture.md "Safety
// rules"): no symlink is ever served, `..` inside the mount stays in the mount,
// and mount paths that look like host paths (`/etc`, `//x/./y`) only ever show
// the package's own bytes.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

class EscapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PackageBuilder p;
    p.name = "t/escape";
    p.version = "1.0.0";
    p.Volume("/v", Dir({{"passwd", File(kPasswd)},
                        {"sub", Dir({{"deeper", Dir({{"f", File("f bytes")}})}})}}));
    // Normalized to /x/y (docs/resolution.md "Filesystem mappings"), and a host-like path.
    p.Fs("//x/./y", "/v").Fs("/etc", "/v");
    package_ = dir_ / "escape.webc";
    ASSERT_EQ(WritePackage(p, package_), "");
    mountpoint_ = dir_ / "mnt";
    std::filesystem::create_directory(mountpoint_);
    const CommandResult r =
        RunCommand({WebcfsBinary(), "mount", package_, mountpoint_, "--cache", dir_ / "cache"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) RunCommand({WebcfsBinary(), "unmount", mountpoint_});
    if (IsMounted(mountpoint_)) RunCommand({"fusermount3", "-u", "-z", mountpoint_});
  }
  std::string At(const std::string& rel) const { return mountpoint_ + "/" + rel; }

  static constexpr const char* kPasswd = "package:x:0:0:not the host's\n";
  TempDir dir_{"fuzz-escape"};
  std::string package_;
  std::string mountpoint_;
  bool mounted_ = false;
};

TEST_F(EscapeTest, OnlyThePackagesEntriesAndNoSymlinks) {
  const std::map<std::string, TreeEntry> tree = WalkTree(mountpoint_, {".webc"});
  const std::string passwd_sha = Sha256Hex(kPasswd);
  const std::string f_sha = Sha256Hex("f bytes");
  std::map<std::string, TreeEntry> expected;
  for (const std::string& at : {std::string("x/y"), std::string("etc")}) {
    expected[at] = {'d', 0, ""};
    expected[at + "/passwd"] = {'f', std::string(kPasswd).size(), passwd_sha};
    expected[at + "/sub"] = {'d', 0, ""};
    expected[at + "/sub/deeper"] = {'d', 0, ""};
    expected[at + "/sub/deeper/f"] = {'f', 7, f_sha};
  }
  expected["x"] = {'d', 0, ""};
  for (auto& [path, e] : expected) {
    if (e.type == 'd') e.size = tree.count(path) ? tree.at(path).size : 0;  // sizes of dirs vary
  }
  EXPECT_EQ(tree, expected);
  // The control directory is not a way out either: no symlinks below it.
  for (const auto& [path, e] : WalkTree(At(".webc"))) {
    EXPECT_NE(e.type, 'l') << ".webc/" << path;
  }
  // readlink has nothing to follow anywhere.
  char buf[PATH_MAX];
  for (const auto& [path, e] : tree) {
    errno = 0;
    EXPECT_EQ(readlink(At(path).c_str(), buf, sizeof buf), -1) << path;
    EXPECT_EQ(errno, EINVAL) << path;
  }
}

TEST_F(EscapeTest, HostLikeMountPathsServeThePackagesBytes) {
  ASSERT_TRUE(std::filesystem::is_regular_file(At("etc/passwd")));
  EXPECT_EQ(ReadHostFile(At("etc/passwd")), kPasswd);
  EXPECT_EQ(ReadHostFile(At("x/y/passwd")), kPasswd);
  // `//x/./y` was normalized: no entry named "" or "." exists.
  struct stat st {};
  EXPECT_NE(stat(At("x/./y").c_str(), &st), -1);  // the kernel resolves "."
  EXPECT_FALSE(std::filesystem::exists(At("x/y/x")));
  // O_NOFOLLOW opens succeed: nothing on the way is a link.
  const int fd = open(At("etc/passwd").c_str(), O_RDONLY | O_NOFOLLOW);
  EXPECT_GE(fd, 0) << strerror(errno);
  if (fd >= 0) close(fd);
}

TEST_F(EscapeTest, DotDotStaysInTheMount) {
  // `..` of every directory below the root is its parent inside the mount.
  EXPECT_TRUE(SameFile(At("x/y/.."), At("x")));
  EXPECT_TRUE(SameFile(At("x/.."), mountpoint_));
  EXPECT_TRUE(SameFile(At("x/y/sub/deeper/../../.."), At("x")));
  EXPECT_TRUE(SameFile(At("etc/sub/deeper/../../../x/y/sub"), At("x/y/sub")));
  EXPECT_EQ(ReadHostFile(At("x/y/sub/../passwd")), kPasswd);
  EXPECT_EQ(ReadHostFile(At("etc/sub/deeper/../../passwd")), kPasswd);
  // The root's `..` is the mount point's parent: the kernel leaves the mount
  // there, exactly as for any other filesystem; it is not served by webcfs.
  EXPECT_TRUE(SameFile(mountpoint_ + "/..", dir_.path()));
  // Names the package could not contain do not exist.
  for (const char* name : {"x/y/...", "x/y/..passwd", "etc/passwd/.."}) {
    struct stat st {};
    EXPECT_NE(stat(At(name).c_str(), &st), 0) << name;
  }
}

TEST_F(EscapeTest, MountPathsThatEscapeAreRefusedAndNothingIsMounted) {
  for (const char* mount_path : {"/../etc", "/x/../../etc", "relative", "../etc"}) {
    PackageBuilder p;
    p.name = "t/bad";
    p.version = "1.0.0";
    p.Volume("/v", Dir({{"passwd", File("x")}})).Fs(mount_path, "/v");
    const std::string file = dir_ / "bad.webc";
    ASSERT_EQ(WritePackage(p, file), "");
    const std::string mnt = dir_ / "bad-mnt";
    std::filesystem::create_directories(mnt);
    const CommandResult r =
        RunCommand({WebcfsBinary(), "mount", file, mnt, "--cache", dir_ / "cache"});
    EXPECT_EQ(r.exit_code, 1) << mount_path;
    EXPECT_NE(r.err.find(mount_path), std::string::npos) << r.err;
    EXPECT_FALSE(IsMounted(mnt)) << mount_path;
    if (IsMounted(mnt)) RunCommand({"fusermount3", "-u", mnt});
  }
}

}  // namespace
}  // namespace webcfs::testing
