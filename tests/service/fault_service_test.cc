// The daemon under faults of its cache directory: read-only or full
// while loading gives a clear error naming the path, and a reload that fails
// that way keeps the previous tree served. And the normal start-serve-stop
// cycle, which in the ASan build (WEBCFS_ASAN_BUILD) also proves the daemon
// frees everything: LeakSanitizer reports at exit. And a cache copy changed
// under the mount: reads fail, and the log says which file and why.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "daemon_fixture.h"

namespace webcfs::service_test {
namespace {

class CacheFaultTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    std::filesystem::create_directories(cache_);
  }
  void TearDown() override {
    DaemonTest::TearDown();
    while (umount2(cache_.c_str(), MNT_DETACH) == 0) {
    }
  }

  // Mounts a tmpfs of `size` (e.g. "1m") over the cache directory; false when
  // this process may not mount (not root): the test is then skipped.
  bool MountTmpfsCache(const std::string& options) {
    return mount("webcfs-test-cache", cache_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }

  // Daemon config with the cache under test.
  std::string Config() { return WriteConfig(); }

  // Waits for the outcome of one reload: the READY=1 that follows RELOADING=1.
  std::string ReloadOutcome() {
    EXPECT_FALSE(notify_.NextStartingWith("RELOADING=1").empty()) << Log();
    return notify_.NextStartingWith("READY=1");
  }

  std::string cache_ = dir_ / "cache";  // WriteConfig() points the daemon here
};

TEST_F(CacheFaultTest, ReadOnlyCacheAtStartFailsNamingThePath) {
  if (!MountTmpfsCache("size=4m")) GTEST_SKIP() << "cannot mount a tmpfs (not root?)";
  ASSERT_EQ(mount(nullptr, cache_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
  Publish("1.0.0", "one\n", "big");
  Start(Config());
  EXPECT_EQ(Wait(), 1) << Log();
  EXPECT_NE(Log().find(cache_ + ": Read-only file system"), std::string::npos) << Log();
  EXPECT_FALSE(Mounted());
}

TEST_F(CacheFaultTest, ReadOnlyCacheOnReloadKeepsServing) {
  if (!MountTmpfsCache("size=4m")) GTEST_SKIP() << "cannot mount a tmpfs (not root?)";
  Publish("1.0.0", "one\n", "big");
  Start(Config());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");

  Publish("2.0.0", "two\n", "bigger");
  ASSERT_EQ(mount(nullptr, cache_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  const std::string outcome = ReloadOutcome();
  EXPECT_NE(outcome.find("last reload failed"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find(cache_), std::string::npos) << outcome;
  EXPECT_NE(Log().find("reload failed, still serving generation 1"), std::string::npos) << Log();
  EXPECT_TRUE(Mounted());
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  EXPECT_EQ(ReadHostFile(mnt_ + "/big.bin"), "big");

  // Writable again: the next reload succeeds.
  ASSERT_EQ(mount(nullptr, cache_.c_str(), nullptr, MS_REMOUNT, nullptr), 0);
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  const std::string recovered = ReloadOutcome();
  EXPECT_NE(recovered.find("generation 2"), std::string::npos) << recovered;
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "two\n");
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

TEST_F(CacheFaultTest, FullCacheOnReloadKeepsServingAndLeavesNoTempFiles) {
  if (!MountTmpfsCache("size=1m")) GTEST_SKIP() << "cannot mount a tmpfs (not root?)";
  Publish("1.0.0", "one\n", "big");
  Start(Config());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();

  // The new version does not fit into the cache.
  Publish("2.0.0", "two\n", std::string(3 << 20, 'x'));
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  const std::string outcome = ReloadOutcome();
  EXPECT_NE(outcome.find("last reload failed"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find("No space left on device"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find(cache_), std::string::npos) << outcome;
  EXPECT_TRUE(Mounted());
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  for (const auto& e : std::filesystem::directory_iterator(cache_)) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-")) << e.path();
  }
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

// errno of reading `path` whole, 0 on success.
int ReadError(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return errno;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
  }
  const int err = n < 0 ? errno : 0;
  close(fd);
  return err;
}

TEST_F(DaemonTest, CacheCopyChangedUnderTheMountIsLoggedByPowersOfTwo) {
  Publish("1.0.0", "one\n", "big", {{"f1", File("1")}, {"f2", File("2")}, {"f3", File("3")}});
  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  std::string entry;
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "cache")) {
    if (e.path().extension() == ".webc") entry = e.path().string();
  }
  ASSERT_FALSE(entry.empty());
  // Same size, other bytes: only the guard's re-hash can tell.
  std::string bytes = ReadHostFile(entry);
  bytes[bytes.size() / 2] ^= 1;
  {
    const int fd = open(entry.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  for (const char* name : {"f1", "f2", "f3", "data.txt"}) {
    EXPECT_EQ(ReadError(mnt_ + "/" + name), EIO) << name;
  }

  // Each read is one or two failed READs (the kernel retries a failed
  // readahead page): at least four failures, of which the 1st, 2nd and 4th
  // are logged, naming the file, the container and the errno.
  const std::string log = Log();
  EXPECT_NE(log.find(entry + " changed under the mount"), std::string::npos) << log;
  EXPECT_NE(log.find("Input/output error; failure 1 of this mount"), std::string::npos) << log;
  EXPECT_NE(log.find("failure 4 of this mount"), std::string::npos) << log;
  const std::regex failure("failure ([0-9]+) of this mount");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), failure);
       it != std::sregex_iterator(); ++it) {
    const unsigned long n = std::stoul((*it)[1]);
    EXPECT_EQ(n & (n - 1), 0u) << "failure " << n << " was logged: not a power of two";
  }
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

// Start, serve (files, listings, the control directory, one reload), stop.
// In the ASan build LeakSanitizer checks at exit and makes the exit status
// non-zero (and prints its report) on any leak.
TEST_F(DaemonTest, StartServeStopCycleExitsCleanly) {
#ifdef WEBCFS_ASAN_BUILD
  setenv("ASAN_OPTIONS", "detect_leaks=1", 1);  // for the daemon; this process read it already
#endif
  Publish("1.0.0", "one\n", std::string(3 << 20, 'b'), {{"d", testing::Dir({{"x", File("x")}})}});
  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  EXPECT_EQ(ReadHostFile(mnt_ + "/big.bin").size(), size_t{3} << 20);
  EXPECT_EQ(ReadHostFile(mnt_ + "/d/x"), "x");
  EXPECT_FALSE(ReadHostFile(mnt_ + "/.webc/resolution.json").empty());
  size_t entries = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(mnt_)) {
    (void)e;
    ++entries;
  }
  EXPECT_GT(entries, 4u);

  Publish("2.0.0", "two\n", "big");
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  ASSERT_FALSE(notify_.NextStartingWith("RELOADING=1").empty()) << Log();
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "two\n");

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
  EXPECT_EQ(Log().find("LeakSanitizer"), std::string::npos) << Log();
  EXPECT_EQ(Log().find("AddressSanitizer"), std::string::npos) << Log();
  EXPECT_FALSE(Mounted());
}

}  // namespace
}  // namespace webcfs::service_test
