// Faults under a live mount: the package file behind the mount is
// truncated, overwritten in place or deleted. The daemon must stay up (no
// SIGBUS) and every read returns the original bytes or EIO, never other bytes
// (docs/filesystem.md, "Files changing under the mount").
//
// Each case reads a file the kernel has not cached yet, so the read reaches
// the daemon after the fault.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

constexpr int kFiles = 8;
constexpr size_t kFileSize = 64 * 1024;

std::string Content(int file, char salt) {
  std::string s(kFileSize, '\0');
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + static_cast<size_t>(file) * 13 + salt) % 26);
  }
  return s;
}

PackageBuilder Package(char salt) {
  std::map<std::string, webc::WriteNode> files;
  for (int i = 0; i < kFiles; ++i) files["f" + std::to_string(i)] = File(Content(i, salt));
  PackageBuilder p;
  p.name = "fault/pkg";
  p.version = "1.0.0";
  p.Volume("/v", Dir(std::move(files)));
  p.Fs("/", "/v");
  return p;
}

// What a read of a whole file through the mount gave: its bytes, or errno.
struct ReadOutcome {
  int error = 0;
  std::string bytes;
};

ReadOutcome ReadThrough(const std::string& path) {
  ReadOutcome r;
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    r.error = errno;
    return r;
  }
  char buf[16384];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) break;
    r.bytes.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return r;
}

// Writes `bytes` over the start of `path` without truncating it (what a
// careless `dd conv=notrunc` or an in-place editor does).
void OverwriteInPlace(const std::string& path, const std::string& bytes) {
  const int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// The one container entry in a cache directory.
std::string CacheEntry(const std::string& cache_dir) {
  std::string found;
  DIR* d = opendir(cache_dir.c_str());
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() == 64 + 5 && name.ends_with(".webc")) found = cache_dir + "/" + name;
  }
  closedir(d);
  return found;
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(WritePackage(Package('x'), source_), "");
    ASSERT_EQ(WritePackage(Package('y'), other_), "");
    original_ = ReadHostFile(source_);
    other_bytes_ = ReadHostFile(other_);
    // Same layout, other file contents: an in-place overwrite keeps the size,
    // so only content checks can notice it.
    ASSERT_EQ(original_.size(), other_bytes_.size());
    ASSERT_NE(original_, other_bytes_);
  }

  // Every file reads back as the original or fails with EIO; returns how
  // many gave EIO. Files before `first` were read already.
  int ExpectOriginalOrEio(const Mount& m, int first) {
    int eio = 0;
    for (int i = first; i < kFiles; ++i) {
      const ReadOutcome r = ReadThrough(m / ("f" + std::to_string(i)));
      if (r.error != 0) {
        EXPECT_EQ(r.error, EIO) << "f" << i << ": " << std::strerror(r.error);
        ++eio;
      } else {
        EXPECT_EQ(r.bytes, Content(i, 'x')) << "f" << i << ": wrong bytes";
      }
    }
    return eio;
  }

  void ExpectDaemonAlive(const Mount& m, pid_t daemon) {
    EXPECT_TRUE(ProcessAlive(daemon)) << "the daemon died";
    struct stat st;
    EXPECT_EQ(stat(m.path().c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(stat((m / "f7").c_str(), &st), 0) << std::strerror(errno);
  }

  TempDir dir_{"fuse-it-fault"};
  std::string source_ = dir_ / "pkg.webc";
  std::string other_ = dir_ / "other.webc";
  std::string cache_ = dir_ / "cache";
  std::string original_;
  std::string other_bytes_;
};

// The registry file is not what the mount reads: the private cache copy is.
TEST_F(FaultTest, SourceFileChangesDoNotReachACachedMount) {
  Mount m(source_, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  ASSERT_GT(daemon, 0);
  EXPECT_EQ(ReadThrough(m / "f0").bytes, Content(0, 'x'));

  OverwriteInPlace(source_, other_bytes_);
  EXPECT_EQ(ReadThrough(m / "f1").bytes, Content(1, 'x'));
  ASSERT_EQ(truncate(source_.c_str(), 100), 0);
  EXPECT_EQ(ReadThrough(m / "f2").bytes, Content(2, 'x'));
  ASSERT_EQ(unlink(source_.c_str()), 0);
  EXPECT_EQ(ExpectOriginalOrEio(m, 3), 0);
  ExpectDaemonAlive(m, daemon);
}

TEST_F(FaultTest, CacheCopyOverwrittenInPlaceGivesEio) {
  Mount m(source_, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  EXPECT_EQ(ReadThrough(m / "f0").bytes, Content(0, 'x'));
  const std::string entry = CacheEntry(cache_);
  ASSERT_FALSE(entry.empty());

  OverwriteInPlace(entry, other_bytes_);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), kFiles - 1);  // the bytes changed: nothing is served
  ExpectDaemonAlive(m, daemon);

  // A reload re-imports the (unchanged) source into a fresh verified copy.
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  ReadOutcome r;
  for (int i = 0; i < 500; ++i) {
    r = ReadThrough(m / "f5");
    if (r.error == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.bytes, Content(5, 'x'));
  EXPECT_EQ(ReadHostFile(CacheEntry(cache_)), original_);
}

TEST_F(FaultTest, CacheCopyTruncatedGivesEio) {
  Mount m(source_, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  const std::string entry = CacheEntry(cache_);
  ASSERT_FALSE(entry.empty());

  ASSERT_EQ(truncate(entry.c_str(), static_cast<off_t>(original_.size() / 2)), 0);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), kFiles - 1);
  ASSERT_EQ(truncate(entry.c_str(), 0), 0);
  ExpectDaemonAlive(m, daemon);
}

// Deleting the copy leaves its bytes readable through the open descriptor;
// the guard re-hashes them, finds them unchanged and keeps serving.
TEST_F(FaultTest, CacheCopyDeletedKeepsServingTheVerifiedBytes) {
  Mount m(source_, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  const std::string entry = CacheEntry(cache_);
  ASSERT_FALSE(entry.empty());
  ASSERT_EQ(unlink(entry.c_str()), 0);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), 0);
  ExpectDaemonAlive(m, daemon);
}

TEST_F(FaultTest, CacheCopyRewrittenWithTheSameBytesKeepsServing) {
  Mount m(source_, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const std::string entry = CacheEntry(cache_);
  ASSERT_FALSE(entry.empty());
  OverwriteInPlace(entry, original_);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), 0);
}

// Without the cache the registry file itself serves the mount.
TEST_F(FaultTest, NoCacheSourceOverwrittenGivesEio) {
  for (const char* splice : {"", "no_splice"}) {
    SCOPED_TRACE(std::string("mount options: ") + splice);
    ASSERT_EQ(WritePackage(Package('x'), source_), "");
    std::vector<std::string> args = {"--no-cache"};
    if (*splice) args.insert(args.end(), {"-o", splice});
    Mount m(source_, args);
    ASSERT_TRUE(m.ok()) << m.result().err;
    const pid_t daemon = m.DaemonPid();
    EXPECT_EQ(ReadThrough(m / "f0").bytes, Content(0, 'x'));
    OverwriteInPlace(source_, other_bytes_);
    EXPECT_EQ(ExpectOriginalOrEio(m, 1), kFiles - 1);
    ExpectDaemonAlive(m, daemon);
  }
}

TEST_F(FaultTest, NoCacheSourceTruncatedGivesEio) {
  Mount m(source_, {"--no-cache"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  ASSERT_EQ(truncate(source_.c_str(), 10), 0);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), kFiles - 1);
  ExpectDaemonAlive(m, daemon);
}

TEST_F(FaultTest, NoCacheSourceDeletedKeepsServing) {
  Mount m(source_, {"--no-cache"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  ASSERT_EQ(unlink(source_.c_str()), 0);
  EXPECT_EQ(ExpectOriginalOrEio(m, 1), 0);
  ExpectDaemonAlive(m, daemon);
}

}  // namespace
}  // namespace webcfs::testing
