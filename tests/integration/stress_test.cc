// Stress: 16 concurrent readers mix lookups, stats,
// listings, whole-file reads (checked against the SHA-256 the package stores,
// read through user.webc.sha256, and against the content the test generated)
// and random partial reads, for a fixed duration, while the daemon reloads
// its snapshot over and over (SIGHUP). Zero errors and zero wrong bytes are
// asserted; ops/s and the daemon's RSS are only printed (never asserted).
//
// ctest runs a short version (2,000 files, a few seconds). bench/stress.sh
// runs the full one through the environment:
//   WEBCFS_STRESS_FILES (default 2000), WEBCFS_STRESS_SECONDS (default 3),
//   WEBCFS_STRESS_READERS (default 16), WEBCFS_STRESS_RELOAD_MS (default 100).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

constexpr int kFilesPerDir = 100;

long EnvOr(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : fallback;
}

// File i: mostly small (0..1023 bytes), every 500th one 256 KiB, so reads
// cover both single requests and multi-request (readahead, splice) ones.
size_t SizeOf(int i) { return i % 500 == 7 ? size_t{256} << 10 : (size_t(i) * 7919) % 1024; }
char ByteOf(int i, size_t off) {
  return static_cast<char>((i * 131 + off * 17 + (off >> 8)) & 0xff);
}
std::string ContentOf(int i) {
  std::string s(SizeOf(i), '\0');
  for (size_t off = 0; off < s.size(); ++off) s[off] = ByteOf(i, off);
  return s;
}
std::string DirName(int d) { return "d" + std::to_string(d); }
std::string FileName(int i) { return "f" + std::to_string(i); }
std::string RelPath(int i) { return DirName(i / kFilesPerDir) + "/" + FileName(i); }

// Containers the daemon has open: one per live snapshot (for this package).
int OpenContainers(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    char target[4096];
    const ssize_t len = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (len > 5 && std::string_view(target, static_cast<size_t>(len)).ends_with(".webc")) ++n;
  }
  closedir(d);
  return n;
}

long DaemonRssKib(pid_t pid) {
  const std::string status = ReadHostFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtol(status.c_str() + at + 6, nullptr, 10);
}

struct Counters {
  std::atomic<uint64_t> ops{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> wrong{0};
};

class Reader {
 public:
  Reader(const std::string& root, int files, const std::vector<std::string>& hashes,
         Counters& counters, unsigned seed)
      : root_(root), files_(files), hashes_(hashes), c_(counters), rng_(seed) {}

  void Run(const std::atomic<bool>& stop) {
    while (!stop.load(std::memory_order_relaxed)) {
      const int i = Pick(files_);
      switch (Pick(10)) {
        case 0:
        case 1:
          Stat(i);
          break;
        case 2:
          List(i / kFilesPerDir);
          break;
        case 3:
        case 4:
        case 5:
          WholeFile(i);
          break;
        default:
          Partial(i);
          break;
      }
      c_.ops.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  void Error(const std::string& what) {
    if (c_.errors.fetch_add(1) < 10) ADD_FAILURE() << what << ": " << std::strerror(errno);
  }
  void Wrong(const std::string& what) {
    if (c_.wrong.fetch_add(1) < 10) ADD_FAILURE() << "wrong bytes: " << what;
  }

  void Stat(int i) {
    struct stat st;
    const std::string path = root_ + "/" + RelPath(i);
    if (stat(path.c_str(), &st) != 0) return Error("stat " + path);
    if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != SizeOf(i)) Wrong("stat " + path);
  }

  void List(int d) {
    const std::string path = root_ + "/" + DirName(d);
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) return Error("opendir " + path);
    int seen = 0;
    errno = 0;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      const std::string name = e->d_name;
      const int i = name.size() > 1 ? std::atoi(name.c_str() + 1) : -1;
      if (name[0] != 'f' || i / kFilesPerDir != d || FileName(i) != name) Wrong(path + ": " + name);
      ++seen;
    }
    if (errno != 0) Error("readdir " + path);
    closedir(dir);
    const int expected = std::min(kFilesPerDir, files_ - d * kFilesPerDir);
    if (seen != expected) Wrong(path + ": " + std::to_string(seen) + " entries");
  }

  // Whole file, hashed and compared with the hash the package stores for it.
  void WholeFile(int i) {
    const std::string path = root_ + "/" + RelPath(i);
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return Error("open " + path);
    char stored[65] = {};
    const ssize_t xl = fgetxattr(fd, "user.webc.sha256", stored, 64);
    std::string bytes;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
    if (n < 0) Error("read " + path);
    close(fd);
    if (xl != 64) return Error("getxattr " + path);
    c_.bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
    const std::string actual = Sha256Hex(bytes);
    if (actual != std::string(stored, 64) || actual != hashes_[i]) Wrong(path);
  }

  void Partial(int i) {
    const size_t size = SizeOf(i);
    if (size == 0) return Stat(i);
    const size_t off = std::uniform_int_distribution<size_t>(0, size - 1)(rng_);
    const size_t len =
        std::uniform_int_distribution<size_t>(1, std::min<size_t>(size - off, 65536))(rng_);
    const std::string path = root_ + "/" + RelPath(i);
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return Error("open " + path);
    std::string buf(len, '\0');
    const ssize_t n = pread(fd, buf.data(), len, static_cast<off_t>(off));
    close(fd);
    if (n != static_cast<ssize_t>(len)) return Error("pread " + path);
    c_.bytes.fetch_add(len, std::memory_order_relaxed);
    for (size_t k = 0; k < len; ++k) {
      if (buf[k] != ByteOf(i, off + k)) return Wrong(path + " at " + std::to_string(off + k));
    }
  }

  const std::string root_;
  const int files_;
  const std::vector<std::string>& hashes_;
  Counters& c_;
  std::mt19937_64 rng_;
};

TEST(StressTest, ConcurrentReadersWhileReloading) {
  const int files = static_cast<int>(EnvOr("WEBCFS_STRESS_FILES", 2000));
  const long seconds = EnvOr("WEBCFS_STRESS_SECONDS", 3);
  const int readers = static_cast<int>(EnvOr("WEBCFS_STRESS_READERS", 16));
  const long reload_ms = EnvOr("WEBCFS_STRESS_RELOAD_MS", 100);
  ASSERT_GT(files, 0);

  TempDir dir("fuse-it-stress");
  std::vector<std::string> hashes(static_cast<size_t>(files));
  {
    std::map<std::string, webc::WriteNode> dirs;
    for (int i = 0; i < files; ++i) {
      std::string content = ContentOf(i);
      hashes[static_cast<size_t>(i)] = Sha256Hex(content);
      dirs[DirName(i / kFilesPerDir)].is_dir = true;
      dirs[DirName(i / kFilesPerDir)].children[FileName(i)] = File(std::move(content));
    }
    PackageBuilder p;
    p.name = "stress/pkg";
    p.version = "1.0.0";
    p.Volume("/v", Dir(std::move(dirs)));
    p.Fs("/", "/v");
    ASSERT_EQ(WritePackage(p, dir / "pkg.webc"), "");
  }
  Mount m(dir / "pkg.webc", {"--cache", dir / "cache", "-o", "xattr"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  ASSERT_GT(daemon, 0);
  const long rss_start = DaemonRssKib(daemon);

  Counters counters;
  std::atomic<bool> stop{false};
  std::atomic<long> rss_max{rss_start};
  int reloads = 0;
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      Reader(m.path(), files, hashes, counters, 1234 + static_cast<unsigned>(r)).Run(stop);
    });
  }
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(kill(daemon, SIGHUP), 0) << "the daemon died";
    ++reloads;
    std::this_thread::sleep_for(std::chrono::milliseconds(reload_ms));
    rss_max = std::max(rss_max.load(), DaemonRssKib(daemon));
  }
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const int containers_under_load = OpenContainers(daemon);
  // Once the readers are gone, one more reload leaves only the new snapshot:
  // the kernel forgets every replaced one (bounded wait, no timing asserted).
  const std::string before = ReadHostFile(m / "d0/f0");
  struct stat st;
  ASSERT_EQ(stat((m / "d0").c_str(), &st), 0);
  const uint64_t generation = static_cast<uint64_t>(st.st_ino) >> 32;
  ASSERT_EQ(kill(daemon, SIGHUP), 0);
  int containers = -1;
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    struct stat now;
    if (stat((m / "d0").c_str(), &now) != 0 ||
        static_cast<uint64_t>(now.st_ino) >> 32 == generation) {
      continue;  // the reload has not finished yet
    }
    containers = OpenContainers(daemon);
    if (containers == 1) break;
  }
  EXPECT_EQ(containers, 1) << "replaced snapshots still alive after the readers stopped";
  EXPECT_EQ(before, ContentOf(0));
  // Reloads really happened: the generation is the high half of inode numbers.
  EXPECT_GT(generation, 1u);
  EXPECT_TRUE(ProcessAlive(daemon));
  EXPECT_EQ(counters.errors.load(), 0u);
  EXPECT_EQ(counters.wrong.load(), 0u);
  EXPECT_GT(counters.ops.load(), 0u);

  std::printf(
      "stress: %d files in %d dirs, %d readers, %.1f s: %llu ops (%.0f ops/s), %.1f MiB read "
      "(%.1f MiB/s), %d SIGHUPs, generation %llu, errors %llu, wrong bytes %llu, daemon RSS "
      "%ld KiB at start, %ld KiB max, %ld KiB at end; %d containers open under load, %d after\n",
      files, (files + kFilesPerDir - 1) / kFilesPerDir, readers, elapsed,
      static_cast<unsigned long long>(counters.ops.load()), counters.ops.load() / elapsed,
      counters.bytes.load() / 1048576.0, counters.bytes.load() / 1048576.0 / elapsed, reloads,
      static_cast<unsigned long long>(generation),
      static_cast<unsigned long long>(counters.errors.load()),
      static_cast<unsigned long long>(counters.wrong.load()), rss_start, rss_max.load(),
      DaemonRssKib(daemon), containers_under_load, containers);
}

}  // namespace
}  // namespace webcfs::testing
