// `webcfs mount` / `webcfs unmount`: errors before mounting leave nothing
// mounted; background mode answers as soon as the command returns; foreground
// mode stays attached and unmounts cleanly on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/integration/mount_util.h"

namespace webcfs::testing {
namespace {

class MountSubcommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PackageBuilder ok;
    ok.name = "t/ok";
    ok.version = "1.0.0";
    ok.Volume("/v", Dir({{"hello", File("hi\n")}})).Fs("/", "/v");
    ASSERT_EQ(WriteToRegistry(ok, registry_.path()), "");
    PackageBuilder broken;
    broken.name = "t/broken";
    broken.version = "1.0.0";
    broken.use["missing"] = "t/missing@^3";
    ASSERT_EQ(WriteToRegistry(broken, registry_.path()), "");
    WriteHostFile(dir_ / "garbage.webc", "\0webc003 this is not a container");
    mountpoint_ = dir_ / "mnt";
    std::filesystem::create_directory(mountpoint_);
  }

  // Runs `webcfs mount` expecting failure; checks the message and that
  // nothing got mounted.
  void ExpectMountFails(const std::vector<std::string>& args, const std::string& message_part) {
    std::vector<std::string> argv = {WebcfsBinary(), "mount"};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = RunCommand(argv);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(message_part), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one clear message: " << r.err;
    EXPECT_FALSE(IsMounted(mountpoint_));
  }

  TempDir registry_{"fuse-it-reg"};
  TempDir dir_{"fuse-it-cmd"};
  std::string mountpoint_;
};

TEST_F(MountSubcommandTest, ErrorsBeforeMountingLeaveNothingMounted) {
  const std::string reg = registry_.path();
  ExpectMountFails({"/no/such/file.webc", mountpoint_, "--registry", reg}, "/no/such/file.webc");
  ExpectMountFails({"t/nonexistent@1", mountpoint_, "--registry", reg}, "t/nonexistent");
  ExpectMountFails({"t/broken@1.0.0", mountpoint_, "--registry", reg}, "t/missing");
  ExpectMountFails({dir_ / "garbage.webc", mountpoint_}, "garbage.webc");
  ExpectMountFails({"t/ok@1.0.0", dir_ / "no-such-dir", "--registry", reg}, "does not exist");
  ExpectMountFails({"t/ok@1.0.0", dir_ / "garbage.webc", "--registry", reg}, "not a directory");
  ExpectMountFails({"t/ok@1.0.0", mountpoint_, "--registry", reg, "-o", "bogus"}, "bogus");
}

TEST_F(MountSubcommandTest, AlreadyMountedIsRefused) {
  Mount first("t/ok@1.0.0", {"--registry", registry_.path()});
  ASSERT_TRUE(first.ok()) << first.result().err;
  const CommandResult r = RunCommand(
      {WebcfsBinary(), "mount", "t/ok@1.0.0", first.path(), "--registry", registry_.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already"), std::string::npos) << r.err;
  EXPECT_EQ(ReadHostFile(first / "hello"), "hi\n");  // the first mount is untouched
}

TEST_F(MountSubcommandTest, BackgroundMountAnswersImmediatelyAndUnmountStopsDaemon) {
  Mount m("t/ok@1.0.0", {"--registry", registry_.path()});
  ASSERT_TRUE(m.ok()) << m.result().err;
  EXPECT_EQ(ReadHostFile(m / "hello"), "hi\n");  // no waiting: the command returned after readiness
  const pid_t daemon = m.DaemonPid();
  ASSERT_GT(daemon, 0);
  const CommandResult r = m.Unmount();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(IsMounted(m.path()));
  EXPECT_FALSE(ProcessAlive(daemon)) << "daemon still running after unmount";
}

// A mountpoint need not be UTF-8; the daemon's JSON status file must not
// choke on it (it once threw at readiness and took the daemon down).
TEST_F(MountSubcommandTest, NonUtf8MountpointMountsAndReportsStatus) {
  const std::string mnt = dir_ / "mnt-\xff";
  ASSERT_TRUE(std::filesystem::create_directory(mnt));
  CommandResult r =
      RunCommand({WebcfsBinary(), "mount", "t/ok@1.0.0", mnt, "--registry", registry_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadHostFile(mnt + "/hello"), "hi\n");
  r = RunCommand({WebcfsBinary(), "status", mnt});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("package:     t/ok@1.0.0"), std::string::npos) << r.out;
  r = RunCommand({WebcfsBinary(), "unmount", mnt});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(IsMounted(mnt));
}

TEST_F(MountSubcommandTest, UnmountRefusesWhatIsNotWebcfs) {
  CommandResult r = RunCommand({WebcfsBinary(), "unmount", mountpoint_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not mounted"), std::string::npos) << r.err;
  r = RunCommand({WebcfsBinary(), "unmount", "/proc"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not a webcfs mount"), std::string::npos) << r.err;
}

TEST_F(MountSubcommandTest, ForegroundStaysAttachedAndStopsOnSigterm) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string bin = WebcfsBinary();
    execl(bin.c_str(), bin.c_str(), "mount", "t/ok@1.0.0", mountpoint_.c_str(), "--registry",
          registry_.path().c_str(), "--foreground", static_cast<char*>(nullptr));
    _exit(127);
  }
  bool mounted = false;
  for (int i = 0; i < 1000 && !mounted; ++i) {
    mounted = IsMounted(mountpoint_);
    if (!mounted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(mounted);
  EXPECT_EQ(ReadHostFile(mountpoint_ + "/hello"), "hi\n");
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "foreground daemon exited early";
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(IsMounted(mountpoint_));
}

}  // namespace
}  // namespace webcfs::testing
