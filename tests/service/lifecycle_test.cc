// Crash and misuse of the daemon's lifecycle: status files left by a dead
// daemon whose pid now belongs to another process, and mounts racing on one
// mountpoint. (Restart after `kill -9`: service_test.cc.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "service_test_util.h"

namespace webcfs::service_test {
namespace {

// The first READY=1 or ERRNO= message ("" on timeout): a daemon that fails
// to start says so instead of keeping the test waiting.
std::string ReadyOrFailure(NotifyListener& notify) {
  for (;;) {
    std::string m = notify.Next();
    if (m.empty() || m.rfind("READY=1", 0) == 0 || m.rfind("ERRNO=", 0) == 0) return m;
  }
}

// A child running `sleep`: an unrelated process that SIGUSR1 or SIGHUP would end.
pid_t StartSleeper() {
  const pid_t pid = fork();
  if (pid == 0) {
    execlp("sleep", "sleep", "120", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

bool StillRunning(pid_t child) { return waitpid(child, nullptr, WNOHANG) == 0; }

// Field 22 of /proc/PID/stat: the process start time in clock ticks.
uint64_t StartTicks(pid_t pid) {
  const std::string stat = ReadHostFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  for (int n = 3; n <= 22; ++n) fields >> f;
  return std::stoull(f);
}

class LifecycleTest : public DaemonTest {
 protected:
  // The one status file in the runtime directory.
  std::string StatusFile() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(runtime_, ec)) {
      if (e.path().extension() == ".json") return e.path();
    }
    return "";
  }

  // Mounts, lists the root and reads a file (so the kernel caches the root's
  // attributes), waits for the status file, then kills the daemon with SIGKILL.
  void MountListAndKill(const std::string& config) {
    Start(config);
    ASSERT_EQ(ReadyOrFailure(notify_).rfind("READY=1", 0), 0u) << Log();
    for (auto until = std::chrono::steady_clock::now() + kPatience;
         StatusFile().empty() && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(mnt_)) {
      (void)e.status();
      ++entries;
    }
    EXPECT_GE(entries, 2u);
    EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
    ASSERT_EQ(kill(pid_, SIGKILL), 0);
    EXPECT_EQ(Wait(), -1);
  }

  CommandResult Webcfs(std::vector<std::string> args) {
    args.insert(args.begin(), WebcfsBinary());
    return RunCommand(args, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  }
};

// A crash leaves the status file; its pid may be reused by any process. Run
// as root, signalling that process would end it (SIGUSR1, SIGHUP).
TEST_F(LifecycleTest, StatusAndReloadNeverSignalAProcessThatReusedTheDaemonsPid) {
  Publish("1.0.0", "one\n", "big");
  MountListAndKill(WriteConfig());
  const std::string path = StatusFile();
  ASSERT_FALSE(path.empty()) << "a killed daemon leaves its status file";
  nlohmann::json left = nlohmann::json::parse(ReadHostFile(path));

  const pid_t sleeper = StartSleeper();
  ASSERT_GT(sleeper, 0);
  left["pid"] = sleeper;
  const std::string stale = "stale status file of pid " + std::to_string(sleeper) + " removed";
  for (const std::string command : {"status", "reload"}) {
    WriteHostFile(path, left.dump());
    const CommandResult r = Webcfs({command, mnt_});
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.all();
    EXPECT_NE(r.all().find(mnt_ + ": no webcfs daemon serves it"), std::string::npos)
        << command << ": " << r.all();
    EXPECT_NE(r.all().find(stale), std::string::npos) << command << ": " << r.all();
    EXPECT_FALSE(std::filesystem::exists(path)) << command;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(StillRunning(sleeper)) << command << " signalled an unrelated process";
  }
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);

  // `webcfs unmount` of the dead mount removes the dead daemon's file too.
  WriteHostFile(path, left.dump());
  const CommandResult r = Webcfs({"unmount", mnt_});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_FALSE(Mounted());
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A daemon that exited but was not reaped yet is not alive, even with the
// right start time.
TEST_F(LifecycleTest, ZombieDaemonIsNotAlive) {
  Publish("1.0.0", "one\n", "big");
  MountListAndKill(WriteConfig());
  const std::string path = StatusFile();
  ASSERT_FALSE(path.empty());
  nlohmann::json left = nlohmann::json::parse(ReadHostFile(path));

  const pid_t zombie = fork();
  if (zombie == 0) {
    pause();
    _exit(0);
  }
  left["pid"] = zombie;
  left["start_ticks"] = StartTicks(zombie);
  kill(zombie, SIGKILL);
  for (int i = 0;
       i < 1000 &&
       ReadHostFile("/proc/" + std::to_string(zombie) + "/stat").find(") Z") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  WriteHostFile(path, left.dump());
  const CommandResult r = Webcfs({"status", mnt_});
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_NE(r.all().find("no webcfs daemon serves it"), std::string::npos) << r.all();
  waitpid(zombie, nullptr, 0);
}

// Two `webcfs mount`s racing on one mountpoint: exactly one mounts, the other
// names the mountpoint and the daemon that has it.
TEST_F(LifecycleTest, RacingMountsOnOneMountpointExactlyOneWins) {
  // The racers meet between the last check of the mountpoint and the mount:
  // the faster the resolution (a filled cache), the likelier they do.
  Publish("1.0.0", "one\n", "big");
  const std::vector<std::string> args = {"--registry", registry_, "--cache", dir_ / "cache"};
  auto mount = [&](const std::string& mnt) {
    std::vector<std::string> argv = {"mount", "test/app", mnt};
    argv.insert(argv.end(), args.begin(), args.end());
    return Webcfs(argv);
  };
  ASSERT_EQ(mount(mnt_).exit_code, 0);  // fills the cache
  ASSERT_EQ(Webcfs({"unmount", mnt_}).exit_code, 0);
  constexpr int kRounds = 100;
  int doubles = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string mnt = dir_ / ("race-" + std::to_string(round));
    std::filesystem::create_directory(mnt);
    CommandResult results[2];
    std::thread racers[2];
    for (int i = 0; i < 2; ++i) {
      racers[i] = std::thread([&, i] { results[i] = mount(mnt); });
    }
    for (auto& t : racers) t.join();
    const int winners = (results[0].exit_code == 0) + (results[1].exit_code == 0);
    const std::string info = ReadHostFile("/proc/self/mountinfo");
    size_t mounts = 0;
    for (size_t at = info.find(" " + mnt + " "); at != std::string::npos;
         at = info.find(" " + mnt + " ", at + 1)) {
      ++mounts;
    }
    doubles += winners == 2 || mounts > 1;
    EXPECT_EQ(winners, 1) << results[0].all() << results[1].all();
    EXPECT_EQ(mounts, 1u) << "round " << round;
    const CommandResult& loser = results[0].exit_code == 0 ? results[1] : results[0];
    if (winners == 1) {
      EXPECT_NE(loser.all().find("mountpoint " + mnt + " is already"), std::string::npos)
          << loser.all();
      EXPECT_NE(loser.all().find("(pid "), std::string::npos) << loser.all();
    }
    for (size_t i = 0; i < mounts; ++i) umount2(mnt.c_str(), MNT_DETACH);
  }
  EXPECT_EQ(doubles, 0) << "of " << kRounds << " rounds";
}

}  // namespace
}  // namespace webcfs::service_test
