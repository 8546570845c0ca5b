// Lazy remote mounts (resolver/lazy_source.h) against real servers on
// 127.0.0.1: range_server.py, which counts requests and bytes and can lie,
// drop, stall or ignore Range, and nginx. Every byte read through a mount is
// compared with the package's own bytes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "resolver/resolution.h"
#include "tests/integration/mount_util.h"
#include "tests/remote/remote_util.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/container.h"

namespace webcfs::testing {
namespace {

using Strings = std::vector<std::string>;
using resolver::testing::PackageBuilder;

constexpr const char* kFile = "t--big@1.0.0.webc";
constexpr int kSmallFiles = 300;
constexpr size_t kSmallSize = 6000;
constexpr size_t kBigSize = 2 << 20;

// Distinct, incompressible-looking bytes for each file and seed.
std::string Bytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

std::map<std::string, std::string> Files(uint32_t seed) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < kSmallFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f/%03d.txt", i);
    files[name] = Bytes(kSmallSize + i, seed * 1000 + i);
  }
  files["big.bin"] = Bytes(kBigSize, seed * 1000 + 999);
  return files;
}

// The bytes of `path` read with open/read, or the errno of the first failure.
struct ReadOutcome {
  std::string bytes;
  int error = 0;
};
ReadOutcome ReadWithSyscalls(const std::string& path) {
  ReadOutcome out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {"", errno};
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      out.error = errno;
      break;
    }
    if (n == 0) break;
    out.bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class LazyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(packages_);
    std::filesystem::create_directories(cache_);
    files_ = Files(1);
    Package(files_).WriteTo(packages_);
    CommandResult indexed = RunCommand({WebcfsBinary(), "index", packages_});
    ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
    size_ = std::filesystem::file_size(packages_ + "/" + kFile);
    sha_ = Sha256Hex(ReadHostFile(packages_ + "/" + kFile));
  }

  static PackageBuilder Package(const std::map<std::string, std::string>& files) {
    PackageBuilder b("t/big", "1.0.0");
    b.Volume("/data", files).Fs("/data", "/data");
    return b;
  }

  // Absolute offset of a file's bytes in the package.
  uint64_t DataOffset(const std::string& path) const {
    auto c = webc::Container::OpenFile(packages_ + "/" + kFile);
    EXPECT_TRUE(c.ok());
    const webc::Volume* v = (*c)->FindVolume("/data");
    const webc::Entry* e = v->Lookup(path);
    EXPECT_NE(e, nullptr) << path;
    return e->data_offset();
  }

  // range_server.py with `fault` at byte `offset` of the package.
  Server StartFaultServer(const std::string& fault, uint64_t offset) const {
    return StartRangeServer(
        packages_,
        {"--fault", fault, "--fault-file", kFile, "--fault-offset", std::to_string(offset)},
        work_.path());
  }

  // A byte of big.bin past the first 64 KiB, which may come with the header.
  uint64_t InsideBigFile() const { return DataOffset("big.bin") + (1 << 20); }

  Strings Args(const Server& server) const {
    return {"--registry", server.Url("/"), "--cache", cache_};
  }

  // Requests and body bytes for the package file only.
  struct Traffic {
    size_t requests = 0;
    uint64_t bytes = 0;
    size_t covering = 0;  // requests whose range covers `offset`
  };
  static Traffic PackageTraffic(const Server& server, uint64_t offset = UINT64_MAX) {
    Traffic t;
    const nlohmann::json stats = Stats(server);
    for (const auto& r : stats.at("ranges")) {
      if (r[0] != std::string("/") + kFile) continue;
      ++t.requests;
      t.bytes += r[2].get<uint64_t>() - r[1].get<uint64_t>();
      if (r[1].get<uint64_t>() <= offset && offset < r[2].get<uint64_t>()) ++t.covering;
    }
    return t;
  }

  bool CacheHoldsWholeEntry() const {
    return std::filesystem::exists(cache_ + "/" + sha_ + ".webc");
  }

  // The partial entry's files (resolver/lazy_source.h): "<digest>.webc",
  // "<digest>.state".
  std::string PartialPath(const std::string& ext) const { return PartialPathOf("big", ext); }

  // Which files the partial entry's state lists as verified (files by index
  // in offset order, a hex bitmap, most significant bit first).
  std::map<std::string, bool> VerifiedInPartialEntry() const {
    std::vector<std::pair<uint64_t, std::string>> by_offset;
    for (const auto& [path, bytes] : files_) by_offset.emplace_back(DataOffset(path), path);
    std::sort(by_offset.begin(), by_offset.end());
    const std::string state = ReadHostFile(PartialPath(".state"));
    const size_t at = state.find("\nfiles ");
    EXPECT_NE(at, std::string::npos) << state;
    std::istringstream in(state.substr(at + 7));
    size_t n = 0;
    std::string bits;
    in >> n >> bits;
    EXPECT_EQ(n, files_.size()) << state;
    std::map<std::string, bool> out;
    for (size_t i = 0; i < by_offset.size() && i / 4 < bits.size(); ++i) {
      const int nibble = std::stoi(std::string(1, bits[i / 4]), nullptr, 16);
      out[by_offset[i].second] = (nibble & (8 >> (i % 4))) != 0;
    }
    return out;
  }

  // Waits (up to a minute) for the background promotion of a fully read
  // package: the whole cache entry there, then the partial entry removed.
  bool WaitForWholeEntry() const {
    auto promoted = [&] {
      return CacheHoldsWholeEntry() && !std::filesystem::exists(PartialPath(".webc"));
    };
    for (int i = 0; i < 600 && !promoted(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return promoted();
  }

  // Publishes a small package `name` (t/NAME) beside t/big, with files
  // data/x and data/y (so that reading x leaves it partial), and indexes the
  // mirror again; returns x's bytes.
  std::string AddPackage(const std::string& name) {
    uint32_t seed = 7;
    for (char c : name) seed = seed * 31 + static_cast<unsigned char>(c);
    const std::string bytes = Bytes(kSmallSize, seed);
    PackageBuilder("t/" + name, "1.0.0")
        .Volume("/data", {{"x", bytes}, {"y", Bytes(kSmallSize, seed + 1)}})
        .Fs("/data", "/data")
        .WriteTo(packages_);
    CommandResult indexed = RunCommand({WebcfsBinary(), "index", packages_});
    EXPECT_EQ(indexed.exit_code, 0) << indexed.err;
    return bytes;
  }

  // Mounts t/NAME, reads `file` (its bytes: `bytes`) and unmounts, once the
  // daemon let go of the partial entry it owned (its flock), so that only
  // the entry's files remain. Letting go dates the entry's last use.
  void MountReadAndLeave(const Server& server, const std::string& name, const std::string& file,
                         const std::string& bytes) const {
    const std::string state = PartialPathOf(name, ".state");
    const auto an_hour_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
    {
      Mount m("t/" + name, Args(server));
      ASSERT_TRUE(m.ok()) << m.result().err;
      EXPECT_TRUE(ReadWithSyscalls(m / ("data/" + file)).bytes == bytes);
      std::filesystem::last_write_time(state, an_hour_ago);
    }
    ASSERT_TRUE(WaitUntilUnowned(PartialPathOf(name, ".webc")));
    ASSERT_TRUE(std::filesystem::exists(state));
    EXPECT_GT(std::filesystem::last_write_time(state), an_hour_ago);
  }

  // Waits (up to a minute) until no process holds the flock of a partial
  // entry's data file.
  static bool WaitUntilUnowned(const std::string& data) {
    for (int i = 0; i < 600; ++i) {
      const int fd = ::open(data.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return false;
      const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
      ::close(fd);
      if (free) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The partial entry of t/NAME: "<digest>.webc" or "<digest>.state".
  std::string PartialPathOf(const std::string& name, const std::string& ext) const {
    const auto index = nlohmann::json::parse(ReadHostFile(packages_ + "/index.json"));
    return cache_ + "/lazy/" +
           index["packages"]["t/" + name][0]["header_sha256"].get<std::string>() + ext;
  }

  void ExpectEveryFileReadsBack(const Mount& m) const {
    for (const auto& [path, bytes] : files_) {
      ReadOutcome r = ReadWithSyscalls(m / ("data/" + path));
      ASSERT_EQ(r.error, 0) << path;
      ASSERT_TRUE(r.bytes == bytes) << path;
    }
  }

  TempDir tmp_{"webcfs-lazy"};
  TempDir work_{"webcfs-lazy-srv"};
  std::string packages_ = tmp_ / "packages";
  std::string cache_ = tmp_ / "cache";
  std::map<std::string, std::string> files_;
  uint64_t size_ = 0;
  std::string sha_;
};

TEST_F(LazyTest, MountFetchesTheHeaderThenOnlyTheFilesRead) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  const Traffic mounted = PackageTraffic(server);
  EXPECT_LE(mounted.requests, 3u);
  EXPECT_LT(mounted.bytes, size_ / 10);
  ReadOutcome one = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(one.error, 0);
  EXPECT_TRUE(one.bytes == files_.at("f/007.txt"));
  const Traffic after = PackageTraffic(server);
  EXPECT_GT(after.requests, mounted.requests);
  EXPECT_LT(after.bytes, size_ - kBigSize / 2);
  EXPECT_FALSE(CacheHoldsWholeEntry());
}

// The lazy source keeps the resolver's HTTP client, so the mount and the
// reads after it go over the connection the index was fetched on.
TEST_F(LazyTest, MountAndReadsReuseTheResolversConnection) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ReadOutcome one = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(one.error, 0);
  EXPECT_TRUE(one.bytes == files_.at("f/007.txt"));
  const nlohmann::json stats = Stats(server);
  EXPECT_GE(stats.at("requests").get<int>(), 3);  // index.json, the header, the file
  EXPECT_EQ(stats.at("connections"), 1);
}

TEST_F(LazyTest, ReadingAFewSmallFilesFetchesLittleMore) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  const Traffic mounted = PackageTraffic(server);
  const Strings read = {"f/007.txt", "f/100.txt", "f/200.txt"};
  for (const std::string& path : read) {
    ReadOutcome r = ReadWithSyscalls(m / ("data/" + path));
    EXPECT_EQ(r.error, 0) << path;
    EXPECT_TRUE(r.bytes == files_.at(path)) << path;
  }
  // The small-file push runs in the background after a directory's first
  // read; give it the time to fetch what it would.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // Each read costs its file and a bounded read-ahead of the files after it
  // (64 KiB for a read that follows no other, resolver/lazy_source.cc); the
  // push of f/ stores only files already verified, never fetching siblings.
  const uint64_t per_read = kSmallSize + kSmallFiles + (64 << 10);
  EXPECT_LE(PackageTraffic(server).bytes - mounted.bytes, read.size() * per_read);
}

TEST_F(LazyTest, EveryFileReadsBackThroughNginx) {
  Server server = StartNginx(packages_, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ExpectEveryFileReadsBack(m);
}

TEST_F(LazyTest, RemountReadsFilesReadBeforeWithoutFetching) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  const Strings read = {"f/100.txt", "f/200.txt", "big.bin"};
  {
    Mount m("t/big", Args(server));
    ASSERT_TRUE(m.ok()) << m.result().err;
    for (const std::string& path : read) {
      EXPECT_TRUE(ReadWithSyscalls(m / ("data/" + path)).bytes == files_.at(path)) << path;
    }
  }
  const Traffic before = PackageTraffic(server);
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  for (const std::string& path : read) {
    ReadOutcome r = ReadWithSyscalls(m / ("data/" + path));
    EXPECT_EQ(r.error, 0) << path;
    EXPECT_TRUE(r.bytes == files_.at(path)) << path;
  }
  // Not even the header: it too comes from the partial entry, checked
  // against the digest.
  EXPECT_EQ(PackageTraffic(server).bytes, before.bytes);
  EXPECT_FALSE(CacheHoldsWholeEntry());
}

TEST_F(LazyTest, DamagedPartialEntryIsFetchedAgain) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  const std::string victim = "f/100.txt";
  {
    Mount m("t/big", Args(server));
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_TRUE(ReadWithSyscalls(m / ("data/" + victim)).bytes == files_.at(victim));
  }
  ASSERT_TRUE(VerifiedInPartialEntry()[victim]);
  std::string data = ReadHostFile(PartialPath(".webc"));
  data[DataOffset(victim) + 5] ^= 0x5a;
  WriteHostFile(PartialPath(".webc"), data);
  const size_t before = PackageTraffic(server, DataOffset(victim)).covering;
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ReadOutcome r = ReadWithSyscalls(m / ("data/" + victim));
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == files_.at(victim));
  EXPECT_EQ(PackageTraffic(server, DataOffset(victim)).covering, before + 1);
}

TEST_F(LazyTest, KilledMidFetchLeavesOnlyVerifiedFiles) {
  const uint64_t stalled = InsideBigFile();
  const Strings read = {"f/100.txt", "f/200.txt"};
  {
    Server server = StartFaultServer("stall-midway", stalled);
    Mount m("t/big", Args(server));
    ASSERT_TRUE(m.ok()) << m.result().err;
    for (const std::string& path : read) {
      EXPECT_TRUE(ReadWithSyscalls(m / ("data/" + path)).bytes == files_.at(path)) << path;
    }
    // A read whose fetch sends half of big.bin's bytes, then stalls; the
    // daemon is killed meanwhile, and the read fails with the connection.
    std::jthread reader([&m] { ReadWithSyscalls(m / "data/big.bin"); });
    for (int i = 0; i < 3000 && PackageTraffic(server, stalled).covering == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(PackageTraffic(server, stalled).covering, 1u);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the half lands
    const pid_t daemon = m.DaemonPid();
    ASSERT_GT(daemon, 0);
    ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  }
  // The state lists the files read (and their read-ahead), not the one
  // whose fetch was cut, and every file it lists holds the source's bytes.
  const std::map<std::string, bool> verified = VerifiedInPartialEntry();
  const std::string data = ReadHostFile(PartialPath(".webc"));
  for (const std::string& path : read) EXPECT_TRUE(verified.at(path)) << path;
  EXPECT_FALSE(verified.at("big.bin"));
  for (const auto& [path, bytes] : files_) {
    if (verified.at(path)) {
      EXPECT_TRUE(data.substr(DataOffset(path), bytes.size()) == bytes) << path;
    }
  }
  EXPECT_FALSE(CacheHoldsWholeEntry());
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ExpectEveryFileReadsBack(m);
  EXPECT_EQ(PackageTraffic(server, DataOffset("f/100.txt")).covering, 0u);
  EXPECT_EQ(PackageTraffic(server, DataOffset("f/200.txt")).covering, 0u);
  EXPECT_EQ(PackageTraffic(server, stalled).covering, 1u);  // fetched again
}

TEST_F(LazyTest, PackageReadWholeBecomesACacheEntry) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  {
    Mount m("t/big", Args(server));
    ASSERT_TRUE(m.ok()) << m.result().err;
    ExpectEveryFileReadsBack(m);
    ASSERT_TRUE(WaitForWholeEntry());
    EXPECT_FALSE(std::filesystem::exists(PartialPath(".webc")));
    EXPECT_FALSE(std::filesystem::exists(PartialPath(".state")));
    ExpectEveryFileReadsBack(m);
  }
  const Traffic before = PackageTraffic(server);
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ExpectEveryFileReadsBack(m);
  EXPECT_EQ(PackageTraffic(server).requests, before.requests);
}

TEST_F(LazyTest, CacheLimitEvictsThePartialEntryOfAnEndedMount) {
  const std::string other = AddPackage("other");
  Server server = StartNginx(packages_, work_.path());
  MountReadAndLeave(server, "big", "f/007.txt", files_.at("f/007.txt"));
  Strings limited = Args(server);
  limited.insert(limited.end(), {"--cache-max-bytes", "1"});
  {
    Mount m("t/other", limited);
    ASSERT_TRUE(m.ok()) << m.result().err;
    EXPECT_FALSE(std::filesystem::exists(PartialPath(".webc")));
    EXPECT_FALSE(std::filesystem::exists(PartialPath(".state")));
    // The mount's own partial entry stays, however small the limit.
    EXPECT_TRUE(std::filesystem::exists(PartialPathOf("other", ".webc")));
    EXPECT_TRUE(ReadWithSyscalls(m / "data/x").bytes == other);
  }
  // Gone means fetched again, and served right.
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  ReadOutcome r = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == files_.at("f/007.txt"));
}

TEST_F(LazyTest, CacheLimitLeavesALiveMountsPartialEntryServing) {
  const std::string other = AddPackage("other");
  const std::string third = AddPackage("third");
  Server server = StartNginx(packages_, work_.path());
  Mount live("t/big", Args(server));
  ASSERT_TRUE(live.ok()) << live.result().err;
  EXPECT_TRUE(ReadWithSyscalls(live / "data/f/007.txt").bytes == files_.at("f/007.txt"));
  struct stat before;
  ASSERT_EQ(::stat(PartialPath(".webc").c_str(), &before), 0);
  // An ended mount's partial entry, used after the live one was opened.
  MountReadAndLeave(server, "other", "x", other);

  Strings limited = Args(server);
  limited.insert(limited.end(), {"--cache-max-bytes", "1"});
  Mount evicting("t/third", limited);
  ASSERT_TRUE(evicting.ok()) << evicting.result().err;
  EXPECT_FALSE(std::filesystem::exists(PartialPathOf("other", ".webc")));
  EXPECT_FALSE(std::filesystem::exists(PartialPathOf("other", ".state")));
  struct stat after;
  ASSERT_EQ(::stat(PartialPath(".webc").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the live mount's file, never removed";
  EXPECT_EQ(after.st_size, before.st_size);
  ASSERT_TRUE(std::filesystem::exists(PartialPath(".state")));

  // It keeps serving, fetching into the same partial entry.
  const Strings read = {"f/100.txt", "f/250.txt", "big.bin"};
  for (const std::string& path : read) {
    ReadOutcome r = ReadWithSyscalls(live / ("data/" + path));
    EXPECT_EQ(r.error, 0) << path;
    EXPECT_TRUE(r.bytes == files_.at(path)) << path;
  }
  const std::map<std::string, bool> verified = VerifiedInPartialEntry();
  for (const std::string& path : read) EXPECT_TRUE(verified.at(path)) << path;
  EXPECT_TRUE(ReadWithSyscalls(evicting / "data/x").bytes == third);
}

TEST_F(LazyTest, PrefetchFetchesEverythingThenServesWithoutTheServer) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Strings args = Args(server);
  args.push_back("--prefetch");
  Mount m("t/big", args);
  ASSERT_TRUE(m.ok()) << m.result().err;
  ASSERT_TRUE(WaitForWholeEntry());
  EXPECT_FALSE(std::filesystem::exists(PartialPath(".webc")));
  server.process->Stop();
  ExpectEveryFileReadsBack(m);
  EXPECT_EQ(ReadHostFile(cache_ + "/" + sha_ + ".webc"), ReadHostFile(packages_ + "/" + kFile));
}

TEST_F(LazyTest, TamperedFileIsEioAndNoOtherFileChanges) {
  const std::string victim = "f/010.txt";
  Server server = StartFaultServer("corrupt", DataOffset(victim) + 5);
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  for (int attempt = 0; attempt < 2; ++attempt) {
    ReadOutcome bad = ReadWithSyscalls(m / ("data/" + victim));
    EXPECT_EQ(bad.error, EIO);
    EXPECT_TRUE(bad.bytes.empty()) << "served " << bad.bytes.size() << " unverified bytes";
  }
  for (const auto& [path, bytes] : files_) {
    if (path == victim) continue;
    ReadOutcome r = ReadWithSyscalls(m / ("data/" + path));
    ASSERT_EQ(r.error, 0) << path;
    ASSERT_TRUE(r.bytes == bytes) << path;
  }
  CommandResult status = RunCommand({WebcfsBinary(), "status", m.path(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto counters = nlohmann::json::parse(status.out).at("counters");
  EXPECT_GE(counters.at("fetch_errors").get<uint64_t>(), 1u);
  EXPECT_EQ(counters.at("files_verified").get<uint64_t>(), files_.size() - 1);
  EXPECT_GT(counters.at("bytes_fetched").get<uint64_t>(), kBigSize);
}

TEST_F(LazyTest, HeaderNotMatchingTheIndexRefusesTheMount) {
  const std::string index_path = packages_ + "/index.json";
  auto index = nlohmann::json::parse(ReadHostFile(index_path));
  auto& entry = index["packages"]["t/big"][0];
  ASSERT_TRUE(entry.contains("header_sha256"));
  entry["header_sha256"] = std::string(64, 'a');
  std::ofstream(index_path) << index.dump();
  Server server = StartRangeServer(packages_, {}, work_.path());
  ExpectMountFails("t/big", Args(server), {"t/big@1.0.0", kFile, "header digest mismatch"});
  EXPECT_FALSE(CacheHoldsWholeEntry());
  EXPECT_FALSE(std::filesystem::exists(PartialPath(".webc")));
  EXPECT_FALSE(std::filesystem::exists(PartialPath(".state")));
}

TEST_F(LazyTest, AnotherConsistentContainerIsRefused) {
  // Same layout and size, other bytes: internally consistent, but not the
  // container the index vouches for.
  const std::string other_dir = tmp_ / "other";
  std::filesystem::create_directories(other_dir);
  const std::string other = Package(Files(2)).WriteTo(other_dir);
  ASSERT_EQ(std::filesystem::file_size(other), size_);
  Server server =
      StartRangeServer(packages_, {"--substitute", std::string(kFile) + "=" + other}, work_.path());
  ExpectMountFails("t/big", Args(server), {"t/big@1.0.0", "header digest mismatch"});
  EXPECT_FALSE(std::filesystem::exists(PartialPath(".webc")));
}

// `webcfs resolve --lock` of t/big from `server`: the lockfile's path.
std::string LockFromMirror(const Server& server, const std::string& dir) {
  const std::string lock = dir + "/big.lock.json";
  CommandResult resolved =
      RunCommand({WebcfsBinary(), "resolve", "t/big", "--registry", server.Url("/"), "--cache",
                  dir + "/resolve-cache", "--lock", lock});
  EXPECT_EQ(resolved.exit_code, 0) << resolved.err;
  return lock;
}

// A lockfile pins each v3 package's header digest and size, so a mount from
// it is as lazy as one from the mirror.
TEST_F(LazyTest, LockfileMountFetchesTheHeaderThenOnlyTheFilesRead) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  const std::string lock = LockFromMirror(server, tmp_.path());
  const Traffic before = PackageTraffic(server);
  Mount m(lock, {"--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const Traffic mounted = PackageTraffic(server);
  EXPECT_LE(mounted.requests - before.requests, 3u);
  EXPECT_LT(mounted.bytes - before.bytes, size_ / 10);
  ReadOutcome one = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(one.error, 0);
  EXPECT_TRUE(one.bytes == files_.at("f/007.txt"));
  EXPECT_LT(PackageTraffic(server).bytes - before.bytes, size_ - kBigSize / 2);
  EXPECT_FALSE(CacheHoldsWholeEntry());
  EXPECT_TRUE(std::filesystem::exists(PartialPath(".webc")));
}

TEST_F(LazyTest, ServerIgnoringRangeGetsTheWholeDownload) {
  Server server =
      StartRangeServer(packages_, {"--fault", "ignore-range", "--fault-file", kFile}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_TRUE(CacheHoldsWholeEntry());
  ReadOutcome r = ReadWithSyscalls(m / "data/big.bin");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == files_.at("big.bin"));
}

TEST_F(LazyTest, NoLazyDownloadsWholeFirst) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Strings args = Args(server);
  args.push_back("--no-lazy");
  Mount m("t/big", args);
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_TRUE(CacheHoldsWholeEntry());
  EXPECT_EQ(PackageTraffic(server).bytes, size_);
}

TEST_F(LazyTest, ConcurrentColdReadersCauseOneFetch) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  std::vector<ReadOutcome> outcomes(8);
  {
    std::vector<std::jthread> readers;
    for (auto& o : outcomes) {
      readers.emplace_back([&o, &m] { o = ReadWithSyscalls(m / "data/big.bin"); });
    }
  }
  for (const ReadOutcome& o : outcomes) {
    EXPECT_EQ(o.error, 0);
    EXPECT_TRUE(o.bytes == files_.at("big.bin"));
  }
  EXPECT_EQ(PackageTraffic(server, InsideBigFile()).covering, 1u);
}

TEST_F(LazyTest, RangeDroppedMidwayIsResumed) {
  Server server = StartFaultServer("drop-once", InsideBigFile());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  const size_t before = PackageTraffic(server).requests;
  ReadOutcome r = ReadWithSyscalls(m / "data/big.bin");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == files_.at("big.bin"));
  // The cut request and its resumption.
  EXPECT_GE(PackageTraffic(server).requests, before + 2);
}

TEST_F(LazyTest, OciBlobIsMountedLazily) {
  Server registry = StartDockerRegistry(work_.path());
  const std::string url = "oci+http://127.0.0.1:" + std::to_string(registry.port) + "/prefix";
  CommandResult pushed = RunCommand({WebcfsBinary(), "push", packages_ + "/" + kFile, url});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  Mount m("t/big", {"--registry", url, "--cache", cache_});
  ASSERT_TRUE(m.ok()) << m.result().err;
  ReadOutcome r = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(r.error, 0);
  EXPECT_TRUE(r.bytes == files_.at("f/007.txt"));
  EXPECT_FALSE(CacheHoldsWholeEntry());
  CommandResult status = RunCommand({WebcfsBinary(), "status", m.path(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto counters = nlohmann::json::parse(status.out).at("counters");
  EXPECT_GT(counters.at("bytes_fetched").get<uint64_t>(), 0u);
  // Small files only (see MountFetchesTheHeaderThenOnlyTheFilesRead): never big.bin.
  EXPECT_LT(counters.at("bytes_fetched").get<uint64_t>(), size_ - kBigSize / 2);
}

// A reload resolves the package again while the process has it open
// lazily: the new tree shares the open one, so nothing is fetched again.
TEST_F(LazyTest, ReloadSharesTheOpenLazyPackage) {
  Server server = StartRangeServer(packages_, {}, work_.path());
  Mount m("t/big", Args(server));
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadWithSyscalls(m / "data/f/007.txt").error, 0);
  const Traffic read = PackageTraffic(server);
  CommandResult reloaded = RunCommand({WebcfsBinary(), "reload", m.path()});
  ASSERT_EQ(reloaded.exit_code, 0) << reloaded.err;
  ReadOutcome again = ReadWithSyscalls(m / "data/f/007.txt");
  EXPECT_EQ(again.error, 0);
  EXPECT_TRUE(again.bytes == files_.at("f/007.txt"));
  EXPECT_EQ(PackageTraffic(server).requests, read.requests);
}

// Unmounting ends a prefetch stalled on a silent server at once, instead of
// waiting for the HTTP timeout (30 s without progress, then retries).
TEST_F(LazyTest, UnmountDoesNotWaitForAStalledPrefetch) {
  const uint64_t stall = InsideBigFile();
  Server server = StartFaultServer("stall", stall);
  Strings args = Args(server);
  args.push_back("--prefetch");
  Mount m("t/big", args);
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  for (int i = 0; i < 300 && PackageTraffic(server, stall).covering == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(PackageTraffic(server, stall).covering, 1u);
  const auto start = std::chrono::steady_clock::now();
  CommandResult unmounted = m.Unmount();
  EXPECT_EQ(unmounted.exit_code, 0) << unmounted.err;
  // A generous bound, far below the timeout it must not wait for.
  while (ProcessAlive(daemon) &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(15)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(ProcessAlive(daemon)) << "the daemon still waits for the stalled range";
  if (ProcessAlive(daemon)) ::kill(daemon, SIGKILL);
}

TEST_F(LazyTest, StalledRangeIsAnErrorAndOtherFilesServe) {
  Server server = StartFaultServer("stall", InsideBigFile());
  resolver::ResolveOptions o;
  o.registries = {server.Url("/")};
  o.cache_dir = cache_;
  o.http_timeout_ms = 1000;
  o.http_retries = 0;
  auto r = resolver::Resolve("t/big", o);
  ASSERT_TRUE(r) << r.error().message();
  const webc::Container& c = *r->packages[0].container;
  const webc::Volume* v = c.FindVolume("/data");
  std::vector<std::byte> scratch(kBigSize);
  auto stalled = c.ReadFile(*v->Lookup("big.bin"), 0, kBigSize, scratch.data());
  ASSERT_FALSE(stalled.ok());
  EXPECT_NE(stalled.error().message().find("t/big@1.0.0"), std::string::npos)
      << stalled.error().message();
  auto fine = c.ReadFile(*v->Lookup("f/001.txt"), 0, kSmallSize + 1, scratch.data());
  ASSERT_TRUE(fine.ok()) << fine.error().message();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(fine->data()), fine->size()),
            files_.at("f/001.txt"));
}

}  // namespace
}  // namespace webcfs::testing
