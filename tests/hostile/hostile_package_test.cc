// The should-fail corpus end to end: for every hostile container the real
// `webcfs inspect` and `webcfs mount` exit with status 1 and one line of error
// that names the file and the problem, and nothing gets mounted. (The reader's
// own unit tests, tests/unit/webc/hostile_test.cc, check each refusal in
// detail; this checks what a user of the binary sees.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/hostile/hostile_util.h"
#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

class HostilePackageTest : public ::testing::TestWithParam<HostileCase> {
 protected:
  void SetUp() override {
    file_ = dir_ / (GetParam().name + (GetParam().zstd ? ".webc.zst" : ".webc"));
    WriteHostFile(file_, GetParam().bytes);
    mountpoint_ = dir_ / "mnt";
    std::filesystem::create_directory(mountpoint_);
  }

  void ExpectRefused(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
    EXPECT_NE(r.err.find(file_), std::string::npos) << "names the file: " << r.err;
    EXPECT_NE(r.err.find(GetParam().problem), std::string::npos) << "names the problem: " << r.err;
  }

  TempDir dir_{"fuzz-hostile"};
  std::string file_;
  std::string mountpoint_;
};

TEST_P(HostilePackageTest, InspectRefuses) {
  const CommandResult r =
      RunCommand({WebcfsBinary(), "inspect", file_, "--max-decompressed", kTestDecompressLimit});
  ExpectRefused(r);
  EXPECT_EQ(r.out, "");
}

TEST_P(HostilePackageTest, MountRefusesAndMountsNothing) {
  const CommandResult r =
      RunCommand({WebcfsBinary(), "mount", file_, mountpoint_, "--cache", dir_ / "cache",
                  "--log-level", "error", "--max-decompressed", kTestDecompressLimit});
  ExpectRefused(r);
  EXPECT_FALSE(IsMounted(mountpoint_));
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(mountpoint_, ec)) << ec.message();
  if (IsMounted(mountpoint_)) RunCommand({"fusermount3", "-u", mountpoint_});
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostilePackageTest, ::testing::ValuesIn(HostileCorpus()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) {
                           std::string name = info.param.name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace webcfs::testing
