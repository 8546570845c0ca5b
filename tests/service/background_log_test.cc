// Where a background daemon (`webcfs mount` without --foreground, outside
// systemd) logs once it has detached: to --log-file, or to syslog; and that
// `webcfs status` says where.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "service_test_util.h"

namespace webcfs::service_test {
namespace {

class BackgroundLogTest : public DaemonTest {
 protected:
  // `webcfs ARGS...` as a shell outside systemd runs it.
  CommandResult Webcfs(std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "env",           "-u",          "INVOCATION_ID", "-u", "JOURNAL_STREAM", "-u",
        "NOTIFY_SOCKET", WebcfsBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  }
  CommandResult MountInBackground(std::vector<std::string> extra) {
    std::vector<std::string> args = {"mount",   "test/app", mnt_,          "--registry",
                                     registry_, "--cache",  dir_ / "cache"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Webcfs(args);
  }
  // Every package file removed: the next reload fails, which the daemon logs.
  void BreakRegistry() {
    for (const auto& e : std::filesystem::directory_iterator(registry_)) {
      std::filesystem::remove(e.path());
    }
  }
};

TEST_F(BackgroundLogTest, ErrorsAfterDetachingReachTheLogFile) {
  Publish("1.0.0", "one\n", "big");
  const std::string log_file = dir_ / "logs/webcfs.log";
  std::filesystem::create_directories(dir_ / "logs");
  auto mount = MountInBackground({"--log-file", log_file});
  ASSERT_EQ(mount.exit_code, 0) << mount.all();
  ASSERT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");

  BreakRegistry();
  auto reload = Webcfs({"reload", mnt_});
  EXPECT_EQ(reload.exit_code, 1) << reload.all();
  const std::string logged = ReadHostFile(log_file);
  EXPECT_NE(logged.find("[" + mnt_ + "] error: reload failed, still serving generation 1"),
            std::string::npos)
      << logged;

  auto status = Webcfs({"status", mnt_});
  EXPECT_EQ(status.exit_code, 0) << status.all();
  EXPECT_NE(status.all().find("logs to:     file " + log_file + "\n"), std::string::npos)
      << status.all();
  auto json = Webcfs({"status", "--json", mnt_});
  const auto j = nlohmann::json::parse(json.all(), nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(j.value("log", ""), "file " + log_file) << json.all();

  EXPECT_EQ(Webcfs({"unmount", mnt_}).exit_code, 0);
}

TEST_F(BackgroundLogTest, UnwritableLogFileFailsBeforeMounting) {
  Publish("1.0.0", "one\n", "big");
  WriteHostFile(dir_ / "not-a-dir", "");
  auto mount = MountInBackground({"--log-file", dir_ / "not-a-dir/webcfs.log"});
  EXPECT_EQ(mount.exit_code, 1) << mount.all();
  EXPECT_NE(mount.all().find("log file " + (dir_ / "not-a-dir/webcfs.log").string()),
            std::string::npos)
      << mount.all();
  EXPECT_FALSE(Mounted());
}

TEST_F(BackgroundLogTest, ConfigKeyLogFileIsUsed) {
  Publish("1.0.0", "one\n", "big");
  const std::string log_file = dir_ / "from-config.log";
  auto mount = Webcfs({"mount", "--config", WriteConfig(", \"log_file\": \"" + log_file + "\"")});
  ASSERT_EQ(mount.exit_code, 0) << mount.all();
  auto status = Webcfs({"status", mnt_});
  EXPECT_NE(status.all().find("logs to:     file " + log_file + "\n"), std::string::npos)
      << status.all();
  EXPECT_EQ(Webcfs({"unmount", mnt_}).exit_code, 0);
}

// Without --log-file, the detached daemon logs to syslog. The daemon runs in a
// private mount namespace whose /dev/log is the test's socket (the FUSE mount
// is made, and stays, in there); status and reload reach it from outside.
TEST_F(BackgroundLogTest, WithoutLogFileErrorsGoToSyslog) {
  Publish("1.0.0", "one\n", "big");
  const std::string sock = dir_ / "log.sock";
  NotifyListener syslog(sock);  // a datagram socket, as a syslog daemon's /dev/log
  const std::string old_dev = dir_ / "host-dev";
  std::filesystem::create_directories(old_dev);
  const std::string script =
      "set -e\n"
      "mount --bind /dev " +
      old_dev +
      "\n"
      "mount -t tmpfs tmpfs /dev\n"
      "for f in null fuse log; do touch /dev/$f; done\n"
      "mount --bind " +
      old_dev +
      "/null /dev/null\n"
      "mount --bind " +
      old_dev +
      "/fuse /dev/fuse\n"
      "mount --bind " +
      sock +
      " /dev/log\n"
      "exec \"$0\" \"$@\"\n";
  std::vector<std::string> argv = {"unshare",
                                   "--mount",
                                   "--propagation",
                                   "private",
                                   "sh",
                                   "-c",
                                   script,
                                   "env",
                                   "-u",
                                   "INVOCATION_ID",
                                   "-u",
                                   "JOURNAL_STREAM",
                                   "-u",
                                   "NOTIFY_SOCKET",
                                   WebcfsBinary(),
                                   "mount",
                                   "test/app",
                                   mnt_,
                                   "--registry",
                                   registry_,
                                   "--cache",
                                   dir_ / "cache"};
  auto mount = RunCommand(argv, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  ASSERT_EQ(mount.exit_code, 0) << mount.all();
  auto status = Webcfs({"status", "--json", mnt_});
  const auto j = nlohmann::json::parse(status.all(), nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << status.all();
  EXPECT_EQ(j.value("log", ""), "syslog") << status.all();

  BreakRegistry();
  EXPECT_EQ(Webcfs({"reload", mnt_}).exit_code, 1);
  // <27>: facility daemon, priority err; the ident carries the pid.
  std::string line;
  while (!(line = syslog.Next()).empty() &&
         line.find("reload failed, still serving generation 1") == std::string::npos) {
  }
  EXPECT_EQ(line.rfind("<27>", 0), 0u) << line;
  EXPECT_NE(line.find("webcfs[" + std::to_string(j.value("pid", 0)) + "]: [" + mnt_ + "] "),
            std::string::npos)
      << line;
  const pid_t daemon = static_cast<pid_t>(j.value("pid", 0));
  if (daemon > 0) kill(daemon, SIGTERM);  // its namespace, and the mount, go with it
}

}  // namespace
}  // namespace webcfs::service_test
