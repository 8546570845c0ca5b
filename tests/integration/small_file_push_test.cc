// Small files pushed into the kernel's page cache (fuse/small_file_pusher.h):
// once one small file of a directory is read, the daemon stores the others,
// so that reading them sends no READ. Observed with mincore(2) on the mounted
// files and with the daemon's request counters (`webcfs status --json`).
#include <dirent.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

constexpr int kSmallFiles = 20;

std::string SmallName(int i) { return (i < 10 ? "f0" : "f") + std::to_string(i); }

std::string Content(const std::string& name, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + name.size() * 13 + name.back()) % 26);
  return s;
}

size_t SmallSize(int i) { return 1000 + static_cast<size_t>(i) * 377; }

PackageBuilder Package() {
  std::map<std::string, webc::WriteNode> d;
  for (int i = 0; i < kSmallFiles; ++i) d[SmallName(i)] = File(Content(SmallName(i), SmallSize(i)));
  d["big.bin"] = File(Content("big.bin", 100 << 10));  // over the 64 KiB limit
  PackageBuilder p;
  p.name = "push/pkg";
  p.version = "1.0.0";
  p.Volume("/v",
           Dir({{"d", Dir(std::move(d))}, {"e", Dir({{"g0", File("g0")}, {"g1", File("g1")}})}}))
      .Fs("/", "/v");
  return p;
}

// Entries of `dir` (readdir, which the daemon answers with readdirplus).
size_t ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  EXPECT_NE(d, nullptr) << dir << ": " << std::strerror(errno);
  if (d == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  closedir(d);
  return n;
}

// READ requests the daemon answered with data so far.
uint64_t ReadsServed(const Mount& m) {
  const CommandResult r = RunCommand({WebcfsBinary(), "status", m.path(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_object()) << r.out;
  if (!j.is_object()) return 0;
  return j.at("counters").value("reads", uint64_t{0});
}

void ExpectAllSmallFilesRead(const Mount& m) {
  for (int i = 0; i < kSmallFiles; ++i) {
    const std::string name = SmallName(i);
    EXPECT_EQ(ReadHostFile(m / ("d/" + name)), Content(name, SmallSize(i))) << name;
  }
}

class SmallFilePushTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(WritePackage(Package(), container_), ""); }

  TempDir dir_{"fuse-it-push"};
  std::string container_ = dir_ / "pkg.webc";
};

TEST_F(SmallFilePushTest, ReadingOneSmallFileStoresItsSiblings) {
  Mount m(container_, {"--no-meta-dir"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  // Listed first, as find and tar do: the kernel can only store into files
  // it has an inode for (readdirplus gives it one per entry).
  ASSERT_EQ(ListDir(m / "d"), static_cast<size_t>(kSmallFiles + 1));
  ASSERT_EQ(ListDir(m / "e"), 2u);
  const uint64_t reads_before = ReadsServed(m);
  EXPECT_EQ(ReadHostFile(m / "d/f00"), Content("f00", SmallSize(0)));

  // The pusher works after the reply, on its own thread; children are pushed
  // in name order, so f19 comes last. The bound is patience, not a timing.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!PageResidency(m / "d/f19").all() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 1; i < kSmallFiles; ++i) {
    EXPECT_TRUE(PageResidency(m / ("d/" + SmallName(i))).all())
        << SmallName(i) << " was not stored";
  }
  EXPECT_EQ(PageResidency(m / "d/big.bin").resident, 0u) << "a file over 64 KiB was stored";
  EXPECT_EQ(PageResidency(m / "e/g0").resident, 0u) << "a file of another directory was stored";

  // The stored bytes are the files' bytes, and reading them asks nothing.
  ExpectAllSmallFilesRead(m);
  EXPECT_EQ(ReadsServed(m) - reads_before, 1u);
}

TEST_F(SmallFilePushTest, NoPushReadsEveryFile) {
  Mount m(container_, {"--no-meta-dir", "-o", "no_push"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  ASSERT_EQ(ListDir(m / "d"), static_cast<size_t>(kSmallFiles + 1));
  const uint64_t reads_before = ReadsServed(m);
  ExpectAllSmallFilesRead(m);
  EXPECT_EQ(ReadsServed(m) - reads_before, static_cast<uint64_t>(kSmallFiles));
}

}  // namespace
}  // namespace webcfs::testing
