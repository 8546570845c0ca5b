// Misuse of the commands' file arguments: a FIFO where a file is expected (the
// spec, a lockfile, --config, a registry entry) is refused at once, naming the
// file, instead of blocking in open(2) until a writer appears.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "service_test_util.h"
#include "tests/common/package_builder.h"

namespace webcfs::service_test {
namespace {

// Each command runs under timeout(1), which kills it (exit 137) if it blocks:
// a regression fails the test instead of hanging the suite. A bound against
// hangs only; nothing here measures speed.
CommandResult RunBounded(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"timeout", "-s", "KILL", "60", WebcfsBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

class FifoArgumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(registry_);
    std::filesystem::create_directories(mnt_);
  }

  std::string MakeFifo(const std::string& path) {
    EXPECT_EQ(mkfifo(path.c_str(), 0644), 0) << path;
    return path;
  }

  // Refused quickly (not killed by the timeout), naming the FIFO.
  static void ExpectRefused(const CommandResult& r, const std::string& fifo) {
    EXPECT_NE(r.exit_code, 137) << "killed by the timeout: the command blocked on " << fifo;
    EXPECT_NE(r.exit_code, 0) << r.all();
    EXPECT_NE(r.all().find(fifo), std::string::npos) << r.all();
    EXPECT_NE(r.all().find("is not a regular file"), std::string::npos) << r.all();
  }

  testing::TempDir dir_{"bad-input"};
  std::string registry_ = dir_ / "registry";
  std::string mnt_ = dir_ / "mnt";
  std::string cache_ = dir_ / "cache";
};

TEST_F(FifoArgumentTest, InspectRefusesAFifo) {
  const std::string fifo = MakeFifo(dir_ / "pkg.webc");
  ExpectRefused(RunBounded({"inspect", fifo}), fifo);
  ExpectRefused(RunBounded({"inspect", "--json", fifo}), fifo);
}

TEST_F(FifoArgumentTest, ResolveRefusesAFifoSpec) {
  const std::string fifo = MakeFifo(dir_ / "pkg.webc");
  ExpectRefused(RunBounded({"resolve", fifo, "--cache", cache_}), fifo);
  ExpectRefused(RunBounded({"resolve", fifo, "--no-cache"}), fifo);
}

TEST_F(FifoArgumentTest, ResolveRefusesAFifoLockfile) {
  const std::string fifo = MakeFifo(dir_ / "pkg.lock.json");
  ExpectRefused(RunBounded({"resolve", fifo, "--cache", cache_}), fifo);
}

TEST_F(FifoArgumentTest, MountRefusesAFifoSpecOrLockfile) {
  for (const char* name : {"pkg.webc", "pkg.lock.json"}) {
    const std::string fifo = MakeFifo(dir_ / name);
    ExpectRefused(RunBounded({"mount", fifo, mnt_, "--cache", cache_}), fifo);
  }
}

// An existing file counts as a path without "./" (as in Wasmer): a FIFO too,
// so it is refused as a file, not looked up as a package name.
TEST_F(FifoArgumentTest, ABareFifoNameIsRefusedAsAFile) {
  MakeFifo(dir_ / "bare.webc");
  std::vector<std::string> argv = {"timeout",      "-s",      "KILL",      "60",
                                   WebcfsBinary(), "resolve", "bare.webc", "--no-cache"};
  const std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  const CommandResult r = RunCommand(argv);
  std::filesystem::current_path(cwd);
  ExpectRefused(r, "bare.webc");
}

TEST_F(FifoArgumentTest, MountRefusesAFifoConfig) {
  const std::string fifo = MakeFifo(dir_ / "app.json");
  const CommandResult r = RunBounded({"mount", "--config", fifo});
  ExpectRefused(r, fifo);
  EXPECT_EQ(r.exit_code, 2) << "a bad configuration file is a configuration error";
}

// A FIFO in a registry directory, whether or not its name parses as a
// package file name, is skipped with a warning; resolution goes on.
TEST_F(FifoArgumentTest, ResolveSkipsFifosInTheRegistry) {
  MakeFifo(registry_ + "/test--app@2.0.0.webc");
  MakeFifo(registry_ + "/unnamed.webc");
  testing::PackageBuilder p;
  p.name = "test/app";
  p.version = "1.0.0";
  p.Volume("atom", testing::Dir({{"a.txt", testing::File("a")}})).Fs("/", "atom");
  ASSERT_EQ(testing::WritePackage(p, registry_ + "/" + testing::RegistryFileName(p)), "");
  const CommandResult r =
      RunBounded({"resolve", "test/app", "--registry", registry_, "--cache", cache_});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_NE(r.all().find("\"test/app@1.0.0\""), std::string::npos) << r.all();
  for (const char* name : {"unnamed.webc", "test--app@2.0.0.webc"}) {
    EXPECT_NE(r.all().find(std::string(name) + ": skipped: not a regular file"), std::string::npos)
        << r.all();
  }
}

}  // namespace
}  // namespace webcfs::service_test
