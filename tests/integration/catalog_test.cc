// Catalog mounts (`webcfs mount --catalog MNT`) over a directory registry:
// listings, every form of name, the same tree as `webcfs mount`, bad names,
// a package with a missing dependency, many packages named at once, reload
// and the drop of forgotten trees.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

namespace fs = std::filesystem;

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename());
  EXPECT_FALSE(ec) << dir << ": " << ec.message();
  return names;
}

// errno of stat(path), 0 on success.
int StatErrno(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
}

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// The names one getdents64 call returns, with a buffer of `bytes`.
std::vector<std::string> ReadSomeNames(int fd, size_t bytes) {
  alignas(8) char buf[512];
  std::vector<std::string> names;
  const long n = ::syscall(SYS_getdents64, fd, buf, std::min(bytes, sizeof buf));
  EXPECT_GE(n, 0) << std::strerror(errno);
  for (long pos = 0; pos < n;) {
    const auto* d = reinterpret_cast<const struct dirent64*>(buf + pos);
    names.emplace_back(d->d_name);
    pos += d->d_reclen;
  }
  return names;
}

// A package whose tree is one file, `version`, holding its version.
PackageBuilder Versioned(const std::string& name, const std::string& version) {
  PackageBuilder p;
  p.name = name;
  p.version = version;
  p.Volume("/v", Dir({{"version", File(version + "\n")}})).Fs("/", "/v");
  return p;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"1.0.0", "1.2.0", "2.0.0"}) Add(Versioned("t/a", v));
    Add(Versioned("u/b", "0.1.0"));
    PackageBuilder broken = Versioned("t/broken", "1.0.0");
    broken.use["missing"] = "t/missing@^3";
    Add(broken);
  }

  void Add(const PackageBuilder& p) { ASSERT_EQ(WriteToRegistry(p, registry_.path()), ""); }

  std::vector<std::string> Args(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"--registry",  registry_.path(), "--cache",
                                     cache_.path(), "--log-file",     log_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string Status(const Mount& m) const {
    return RunCommand({WebcfsBinary(), "status", m.path()}).out;
  }

  // Waits (bounded) until `webcfs status` says `part`.
  bool WaitForStatus(const Mount& m, const std::string& part) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Status(m).find(part) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  TempDir registry_{"catalog-reg"};
  TempDir cache_{"catalog-cache"};
  TempDir work_{"catalog-work"};
  std::string log_ = work_ / "log";
};

TEST_F(CatalogTest, ListsNamespacesAndVersions) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(List(m.path()), (std::set<std::string>{"t", "u"}));
  EXPECT_EQ(List(m / "t"),
            (std::set<std::string>{"a@1.0.0", "a@1.2.0", "a@2.0.0", "broken@1.0.0"}));
  EXPECT_EQ(List(m / "u"), (std::set<std::string>{"b@0.1.0"}));
  struct stat st {};
  ASSERT_EQ(::stat((m / "t").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0555u);
}

TEST_F(CatalogTest, EveryFormOfNameResolves) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / "t/a@1.0.0/version"), "1.0.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a@1.2.0/version"), "1.2.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a@^1.0/version"), "1.2.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a@~1.0.0/version"), "1.0.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a/version"), "2.0.0\n");
  EXPECT_NE(ReadHostFile(m / "t/a@1/.webc/resolution.json").find("\"root\": \"t/a@1.2.0\""),
            std::string::npos);
  // A requirement shows the same tree as its exact version, under numbers of its own.
  EXPECT_EQ(WalkTree(m / "t/a@1"), WalkTree(m / "t/a@1.2.0"));
  EXPECT_NE(InodeOf(m / "t/a@1"), InodeOf(m / "t/a@1.2.0"));
  EXPECT_EQ(InodeOf(m / "t/a@1"), InodeOf(m / "t/a@1"));
  // Packages looked up show in `webcfs status`.
  const std::string status = Status(m);
  EXPECT_NE(status.find("t/a@1 = t/a@1.2.0"), std::string::npos) << status;
  EXPECT_NE(status.find("t/a = t/a@2.0.0"), std::string::npos) << status;
}

TEST_F(CatalogTest, ExactVersionIsWhatWebcfsMountServes) {
  Mount catalog("--catalog", Args());
  ASSERT_TRUE(catalog.ok()) << catalog.result().err;
  Mount single("t/a@=1.2.0", {"--registry", registry_.path(), "--cache", cache_.path()});
  ASSERT_TRUE(single.ok()) << single.result().err;
  EXPECT_EQ(WalkTree(catalog / "t/a@1.2.0"), WalkTree(single.path()));
  EXPECT_EQ(ReadHostFile(catalog / "t/a@1.2.0/.webc/resolution.json"),
            ReadHostFile(single / ".webc/resolution.json"));
}

TEST_F(CatalogTest, BadNamesFailCleanly) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(StatErrno(m / "t/nonexistent@1"), ENOENT);
  EXPECT_EQ(StatErrno(m / "t/nonexistent"), ENOENT);
  EXPECT_EQ(StatErrno(m / "t/a@9"), ENOENT);
  EXPECT_EQ(StatErrno(m / "t/a@3.0.0"), ENOENT);
  EXPECT_EQ(StatErrno(m / "nonamespace"), ENOENT);
  EXPECT_EQ(StatErrno(m / "nonamespace/a@1"), ENOENT);
  EXPECT_EQ(StatErrno(m / "t/a@^^1"), EINVAL);
  EXPECT_EQ(StatErrno(m / "t/a@"), EINVAL);
  EXPECT_EQ(StatErrno(m / "t/@1"), EINVAL);
  EXPECT_EQ(StatErrno(m / "t/a b@1"), EINVAL);
  EXPECT_EQ(StatErrno(m / "t/a@1:x"), EINVAL);
  EXPECT_EQ(StatErrno(m / ("t/a@" + std::string(250, '1'))), EINVAL);
  EXPECT_EQ(StatErrno(m / ("t/" + std::string(300, 'a'))), ENAMETOOLONG);
  EXPECT_EQ(InodeOf(m / "t/a@1/.."), InodeOf(m / "t"));
  EXPECT_EQ(InodeOf(m / "t/.."), InodeOf(m.path()));
  EXPECT_EQ(StatErrno(m / "t/a@1/nothing"), ENOENT);
  // Still serving.
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  EXPECT_EQ(StatErrno(m / "t/x"), ENOENT);
}

TEST_F(CatalogTest, MissingDependencyFailsOnlyItsPath) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(StatErrno(m / "t/broken@1"), EIO);
  EXPECT_EQ(StatErrno(m / "t/broken@1"), EIO);
  EXPECT_EQ(StatErrno(m / "t/broken@1/version"), EIO);
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  // Logged once for the name, naming what is missing.
  const std::string log = ReadHostFile(log_);
  size_t count = 0;
  for (size_t at = log.find("no package t/missing"); at != std::string::npos;
       at = log.find("no package t/missing", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << log;
  EXPECT_NE(log.find("t/broken@1"), std::string::npos) << log;
}

TEST_F(CatalogTest, FiftyPackagesFromSixteenThreads) {
  constexpr int kPackages = 50;
  for (int i = 0; i < kPackages; ++i) {
    PackageBuilder p;
    p.name = "p/pkg" + std::to_string(i);
    p.version = "1.0." + std::to_string(i);
    p.Volume("/v", Dir({{"version", File(p.version + "\n")},
                        {"sub", Dir({{"data", File(std::string(5000 + i, 'x'))}})}}))
        .Fs("/", "/v");
    Add(p);
  }
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<ino_t>> seen(16, std::vector<ino_t>(kPackages));
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPackages; ++k) {
        const int i = (k * 7 + t * 3) % kPackages;
        const std::string dir = m / ("p/pkg" + std::to_string(i) + "@1");
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) {
          ++failures;
          continue;
        }
        seen[t][i] = st.st_ino;
        if (ReadHostFile(dir + "/version") != "1.0." + std::to_string(i) + "\n") ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 1; t < 16; ++t) EXPECT_EQ(seen[t], seen[0]) << "one tree per name";

  std::vector<std::string> dirs;
  for (int i = 0; i < kPackages; ++i) dirs.push_back("p/pkg" + std::to_string(i) + "@1");
  std::vector<std::string> find = {"find"};
  for (const auto& d : dirs) find.push_back(m / d);
  find.insert(find.end(), {"-type", "f", "-name", "data"});
  const CommandResult found = RunCommand(find);
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_EQ(std::count(found.out.begin(), found.out.end(), '\n'), kPackages);
  std::vector<std::string> tar = {"tar", "-C", m.path(), "-cf", work_ / "all.tar"};
  tar.insert(tar.end(), dirs.begin(), dirs.end());
  const CommandResult tarred = RunCommand(tar);
  EXPECT_EQ(tarred.exit_code, 0) << tarred.err;
  const CommandResult listed = RunCommand({"tar", "-tf", work_ / "all.tar"});
  EXPECT_NE(listed.out.find("p/pkg49@1/sub/data"), std::string::npos);
  const CommandResult ls = RunCommand({"ls", "-lR", m / "p"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("pkg7@1.0.7"), std::string::npos);
  EXPECT_EQ(List(m / "p").size(), static_cast<size_t>(kPackages));
}

TEST_F(CatalogTest, ReloadMovesRequirementsOnly) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  const ino_t exact = InodeOf(m / "t/a@1.2.0");
  Add(Versioned("t/a", "1.5.0"));
  // Until a reload the catalog keeps what it resolved.
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  const CommandResult r = RunCommand({WebcfsBinary(), "reload", m.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.5.0\n");
  EXPECT_EQ(ReadHostFile(m / "t/a@1.2.0/version"), "1.2.0\n");
  EXPECT_EQ(InodeOf(m / "t/a@1.2.0"), exact);
  EXPECT_TRUE(List(m / "t").count("a@1.5.0"));
}

// A listing read in several calls is the directory as it was when opened: a
// version published and reloaded meanwhile neither repeats a name nor hides
// one.
TEST_F(CatalogTest, ListingReadInPiecesIsTheDirectoryOpened) {
  Mount m("--catalog", Args());
  ASSERT_TRUE(m.ok()) << m.result().err;
  const int fd = ::open((m / "t").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  // 64 bytes hold "." and ".." (24 bytes each), then two of the names (32).
  std::vector<std::string> names = ReadSomeNames(fd, 64);
  for (const std::string& n : ReadSomeNames(fd, 64)) names.push_back(n);
  ASSERT_EQ(names.size(), 4u);
  // Sorts before every name read so far.
  Add(Versioned("t/a", "0.5.0"));
  const CommandResult r = RunCommand({WebcfsBinary(), "reload", m.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (std::vector<std::string> more; !(more = ReadSomeNames(fd, 512)).empty();) {
    names.insert(names.end(), more.begin(), more.end());
  }
  ::close(fd);
  EXPECT_EQ(names,
            (std::vector<std::string>{".", "..", "a@1.0.0", "a@1.2.0", "a@2.0.0", "broken@1.0.0"}));
  // A new opening sees the new version.
  EXPECT_TRUE(List(m / "t").count("a@0.5.0"));
}

TEST_F(CatalogTest, ForgottenTreesAreDroppedAfterIdle) {
  Mount m("--catalog", Args({"--catalog-idle", "1"}));
  ASSERT_TRUE(m.ok()) << m.result().err;
  const ino_t before = InodeOf(m / "t/a@1");
  {
    // An open file keeps its tree: the kernel still holds its inodes.
    std::ifstream open_file(m / "u/b@0.1.0/version");
    ASSERT_TRUE(open_file.good());
    ASSERT_TRUE(WaitForStatus(m, "u/b@0.1.0"));
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
    ASSERT_TRUE(WaitForStatus(m, "packages:    1\n")) << Status(m);
    std::string line;
    std::getline(open_file, line);
    EXPECT_EQ(line, "0.1.0");
  }
  std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
  ASSERT_TRUE(WaitForStatus(m, "packages:    0\n")) << Status(m);
  // Looked up again: a new tree under new numbers.
  EXPECT_EQ(ReadHostFile(m / "t/a@1/version"), "1.2.0\n");
  EXPECT_NE(InodeOf(m / "t/a@1"), before);
}

TEST_F(CatalogTest, CatalogTakesOnlyTheMountpoint) {
  TempDir mnt{"catalog-mnt"};
  const CommandResult r = RunCommand(
      {WebcfsBinary(), "mount", "--catalog", "t/a@1", mnt.path(), "--registry", registry_.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("only MOUNTPOINT"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMounted(mnt.path()));
}

}  // namespace
}  // namespace webcfs::testing
