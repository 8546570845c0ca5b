// Read-only in every way: every write-type syscall fails with EROFS, and
// nothing changed afterwards. Extended attributes only with `-o xattr`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

class ReadOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PackageBuilder p;
    p.name = "t/ro";
    p.version = "1.0.0";
    p.Volume("/data", Dir({{"file.txt", File("content\n")},
                           {"dir", Dir({{"inner", File("inner\n")}})},
                           {"empty-dir", Dir()}}))
        .Fs("/", "/data");
    ASSERT_EQ(WritePackage(p, dir_ / "ro.webc"), "");
  }
  TempDir dir_{"fuse-it-ro"};
};

// Expects `call` to fail with `err`.
#define EXPECT_ERRNO(call, err)                                       \
  do {                                                                \
    errno = 0;                                                        \
    EXPECT_EQ((call), -1) << #call;                                   \
    EXPECT_EQ(errno, (err)) << #call << ": " << std::strerror(errno); \
  } while (0)

TEST_F(ReadOnlyTest, EveryWriteSyscallFailsWithErofs) {
  Mount m(dir_ / "ro.webc");
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string file = m / "file.txt";
  const std::string dir = m / "dir";
  const auto before = WalkTree(m.path());

  EXPECT_ERRNO(open(file.c_str(), O_WRONLY), EROFS);
  EXPECT_ERRNO(open(file.c_str(), O_RDWR), EROFS);
  EXPECT_ERRNO(open(file.c_str(), O_RDONLY | O_TRUNC), EROFS);
  EXPECT_ERRNO(open(file.c_str(), O_WRONLY | O_APPEND), EROFS);
  EXPECT_ERRNO(open((m / "new").c_str(), O_WRONLY | O_CREAT, 0644), EROFS);
  EXPECT_ERRNO(creat((m / "new").c_str(), 0644), EROFS);
  EXPECT_ERRNO(mknod((m / "fifo").c_str(), S_IFIFO | 0644, 0), EROFS);
  EXPECT_ERRNO(mkdir((m / "newdir").c_str(), 0755), EROFS);
  EXPECT_ERRNO(unlink(file.c_str()), EROFS);
  EXPECT_ERRNO(rmdir((m / "empty-dir").c_str()), EROFS);
  EXPECT_ERRNO(rename(file.c_str(), (m / "renamed").c_str()), EROFS);
  EXPECT_ERRNO(rename(file.c_str(), (dir + "/moved").c_str()), EROFS);
  EXPECT_ERRNO(link(file.c_str(), (m / "hardlink").c_str()), EROFS);
  EXPECT_ERRNO(symlink("file.txt", (m / "symlink").c_str()), EROFS);
  EXPECT_ERRNO(truncate(file.c_str(), 0), EROFS);
  EXPECT_ERRNO(chmod(file.c_str(), 0777), EROFS);
  EXPECT_ERRNO(chmod(dir.c_str(), 0777), EROFS);
  EXPECT_ERRNO(chown(file.c_str(), 1, 1), EROFS);
  EXPECT_ERRNO(utimensat(AT_FDCWD, file.c_str(), nullptr, 0), EROFS);
  EXPECT_ERRNO(setxattr(file.c_str(), "user.x", "1", 1, 0), EROFS);
  EXPECT_ERRNO(removexattr(file.c_str(), "user.x"), EROFS);
  EXPECT_ERRNO(access(file.c_str(), W_OK), EROFS);

  // write(2) and fallocate(2) need a descriptor open for writing, which
  // cannot exist (see above): on a read-only descriptor the kernel says EBADF.
  const int fd = open(file.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_ERRNO(write(fd, "x", 1), EBADF);
  EXPECT_ERRNO(fallocate(fd, 0, 0, 4096), EBADF);
  errno = 0;
  EXPECT_EQ(ftruncate(fd, 0), -1);
  EXPECT_TRUE(errno == EINVAL || errno == EBADF) << std::strerror(errno);  // not open for writing
  EXPECT_ERRNO(fchmod(fd, 0777), EROFS);
  EXPECT_ERRNO(fchown(fd, 1, 1), EROFS);
  EXPECT_ERRNO(fsetxattr(fd, "user.x", "1", 1, 0), EROFS);
  close(fd);

  EXPECT_EQ(WalkTree(m.path()), before);
  EXPECT_EQ(ReadHostFile(file), "content\n");
  // The daemon is still serving.
  EXPECT_GT(m.DaemonPid(), 0);
  EXPECT_EQ(ReadHostFile(dir + "/inner"), "inner\n");
}

TEST_F(ReadOnlyTest, NoXattrsByDefault) {
  Mount m(dir_ / "ro.webc");
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string file = m / "file.txt";
  char buf[256];
  const ssize_t n = listxattr(file.c_str(), buf, sizeof(buf));
  EXPECT_TRUE(n == 0 || (n == -1 && errno == ENOTSUP)) << n << " " << std::strerror(errno);
  errno = 0;
  EXPECT_EQ(getxattr(file.c_str(), "user.webc.package", buf, sizeof(buf)), -1);
  EXPECT_TRUE(errno == ENOTSUP || errno == ENODATA) << std::strerror(errno);
  const CommandResult getfattr = RunCommand({"getfattr", "-d", "-m", "-", file});
  EXPECT_EQ(getfattr.out, "");
}

TEST_F(ReadOnlyTest, XattrsWithOption) {
  Mount m(dir_ / "ro.webc", {"-o", "xattr"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  auto get = [](const std::string& path, const char* name) {
    char buf[256];
    const ssize_t n = getxattr(path.c_str(), name, buf, sizeof(buf));
    return n < 0 ? std::string("<") + std::strerror(errno) + ">" : std::string(buf, n);
  };
  const std::string file = m / "dir/inner";
  EXPECT_EQ(get(file, "user.webc.package"), "t/ro@1.0.0");
  EXPECT_EQ(get(file, "user.webc.volume"), "/data");
  EXPECT_EQ(get(file, "user.webc.sha256"), Sha256Hex(ReadHostFile(file)));
  EXPECT_EQ(get(m / "file.txt", "user.webc.sha256"), Sha256Hex("content\n"));
  EXPECT_EQ(get(file, "user.other"), "<" + std::string(std::strerror(ENODATA)) + ">");

  char list[256];
  const ssize_t n = listxattr(file.c_str(), list, sizeof(list));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(list, n),
            std::string("user.webc.package\0user.webc.volume\0user.webc.sha256\0", 52));
  // Size query and a too-small buffer.
  EXPECT_EQ(getxattr(file.c_str(), "user.webc.sha256", nullptr, 0), 64);
  char small[8];
  EXPECT_ERRNO(getxattr(file.c_str(), "user.webc.sha256", small, sizeof(small)), ERANGE);
  // Directories name their package and volume but carry no content hash.
  EXPECT_EQ(get(m / "dir", "user.webc.package"), "t/ro@1.0.0");
  EXPECT_EQ(get(m / "dir", "user.webc.sha256"), "<" + std::string(std::strerror(ENODATA)) + ">");

  const CommandResult getfattr = RunCommand({"getfattr", "-d", file});
  EXPECT_NE(getfattr.out.find("user.webc.sha256=\"" + Sha256Hex("inner\n") + "\""),
            std::string::npos)
      << getfattr.out << getfattr.err;
}

}  // namespace
}  // namespace webcfs::testing
