// Parallel readers: 8 processes walk, list and read the whole mount at the
// same time, each comparing with the source; all see the same, correct data
// and the daemon stays up.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/integration/mount_util.h"
#include "webc/writer.h"

namespace webcfs::testing {
namespace {

TEST(ParallelTest, EightReadersSeeConsistentData) {
  TempDir dir("fuse-it-par");
  const std::string src = dir / "src";
  std::mt19937_64 rng(99);
  for (int d = 0; d < 20; ++d) {
    const std::string sub = src + "/dir" + std::to_string(d) + "/sub";
    std::filesystem::create_directories(sub);
    for (int f = 0; f < 40; ++f) {
      std::string bytes(rng() % (f == 0 ? 1 << 20 : 8192), '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      WriteHostFile((f % 2 ? sub : src + "/dir" + std::to_string(d)) + "/f" + std::to_string(f),
                    bytes);
    }
  }
  auto tree = webc::TreeFromHostDirectory(src);
  ASSERT_TRUE(tree.ok()) << tree.error().message();
  PackageBuilder p;
  p.Volume("/data", std::move(*tree)).Fs("/", "/data");
  ASSERT_EQ(WritePackage(p, dir / "pkg.webc"), "");
  const auto want = WalkTree(src);

  Mount m(dir / "pkg.webc", {"--no-meta-dir", "--threads", "4"});
  ASSERT_TRUE(m.ok()) << m.result().err;
  const pid_t daemon = m.DaemonPid();
  ASSERT_GT(daemon, 0);

  std::vector<pid_t> readers;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Each reader walks in its own order of rounds; cold and warm caches mix.
      bool ok = true;
      for (int round = 0; round < 2 && ok; ++round) ok = WalkTree(m.path()) == want;
      _exit(ok ? 0 : 1);
    }
    readers.push_back(pid);
  }
  for (pid_t pid : readers) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "reader saw different data";
  }
  EXPECT_TRUE(ProcessAlive(daemon)) << "daemon died";
  EXPECT_EQ(m.DaemonPid(), daemon);
  EXPECT_EQ(WalkTree(m.path()), want);
}

}  // namespace
}  // namespace webcfs::testing
