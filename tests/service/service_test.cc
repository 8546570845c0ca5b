// The daemon under a harness that plays systemd: a NOTIFY_SOCKET datagram
// socket, WATCHDOG_USEC/WATCHDOG_PID, signals, and real FUSE mounts under
// /tmp/daemon-*. Checks the notify sequence, reload (also under load and when
// it fails), kill -9 recovery, SIGTERM with a busy mount, configuration
// errors and the mount(8) helper.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "service_test_util.h"
#include "tests/common/package_builder.h"

namespace webcfs::service_test {
namespace {

// The sequence with consecutive WATCHDOG=1 pings collapsed, for the report.
std::string Summarize(const std::vector<std::string>& log) {
  std::string out;
  std::string last;
  int repeats = 0;
  for (std::string m : log) {
    for (char& c : m) c = c == '\n' ? ' ' : c;
    if (m == last) {
      ++repeats;
      continue;
    }
    if (repeats > 0) out += "  (x" + std::to_string(repeats + 1) + ")\n";
    out += (out.empty() || out.back() == '\n' ? "" : "\n") + m;
    last = m;
    repeats = 0;
  }
  if (repeats > 0) out += "  (x" + std::to_string(repeats + 1) + ")";
  return out + "\n";
}

TEST_F(DaemonTest, NotifySequenceWatchdogReloadStop) {
  Publish("1.0.0", "one\n", "big-one");
  Start(WriteConfig(), /*watchdog_usec=*/"200000");

  // Before READY only STATUS= progress; at READY the mount already answers.
  std::string m;
  while ((m = notify_.Next()).rfind("READY=1", 0) != 0) {
    ASSERT_FALSE(m.empty()) << "no READY=1; log:\n" << Log();
    EXPECT_EQ(m.rfind("STATUS=", 0), 0u) << m;
  }
  EXPECT_NE(m.find("STATUS=serving test/app@1.0.0, generation 1"), std::string::npos) << m;
  EXPECT_TRUE(Mounted());
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");

  // Watchdog pings (every WATCHDOG_USEC/2) while the loop answers.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(notify_.Next(), "WATCHDOG=1") << Log();

  // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the new tree.
  Publish("2.0.0", "two\n", "big-two");
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  m = notify_.NextStartingWith("RELOADING=1");
  ASSERT_FALSE(m.empty()) << Log();
  EXPECT_NE(m.find("\nMONOTONIC_USEC="), std::string::npos) << m;
  m = notify_.NextStartingWith("READY=1");
  EXPECT_NE(m.find("STATUS=serving test/app@2.0.0, generation 2"), std::string::npos) << m;
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "two\n");
  ASSERT_EQ(notify_.NextStartingWith("WATCHDOG=1"), "WATCHDOG=1");  // still pinging

  // SIGTERM: STOPPING=1, clean unmount, exit 0.
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  m = notify_.NextStartingWith("STOPPING=1");
  ASSERT_FALSE(m.empty()) << Log();
  EXPECT_EQ(Wait(), 0) << Log();
  EXPECT_FALSE(Mounted());
  std::printf("notify sequence observed:\n%s", Summarize(notify_.log()).c_str());
}

TEST_F(DaemonTest, ReloadUnderLoadKeepsOpenFilesAndFailingReloadKeepsTree) {
  // Files opened before the reload read the old bytes to the end.
  std::string big_old(4 << 20, '\0'), big_new(4 << 20, '\0');
  for (size_t i = 0; i < big_old.size(); ++i) {
    big_old[i] = static_cast<char>('a' + i % 23);
    big_new[i] = static_cast<char>('A' + i % 19);
  }
  Publish("1.0.0", "one\n", big_old, {{"old.txt", File("old")}});
  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();

  constexpr int kReaders = 4;
  std::atomic<bool> reloaded{false};
  std::atomic<int> errors{0}, mismatches{0}, passes_after_reload{0};
  std::vector<int> fds;
  for (int i = 0; i < kReaders; ++i) {
    fds.push_back(open((mnt_ + "/big.bin").c_str(), O_RDONLY));
    ASSERT_GE(fds.back(), 0);
  }
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, fd = fds[i]] {
      std::string buf(64 << 10, '\0');
      // Keep reading whole passes until two complete passes after the reload.
      for (int after = 0; after < 2;) {
        const bool was_reloaded = reloaded.load();
        for (size_t off = 0; off < big_old.size(); off += buf.size()) {
          const ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
          if (n != static_cast<ssize_t>(buf.size())) {
            ++errors;
            return;
          }
          if (buf.compare(0, buf.size(), big_old, off, buf.size()) != 0) ++mismatches;
        }
        if (was_reloaded) ++after;
      }
      ++passes_after_reload;
    });
  }
  Publish("2.0.0", "two\n", big_new, {{"new.txt", File("new")}});
  ASSERT_EQ(kill(pid_, SIGHUP), 0);
  ASSERT_FALSE(notify_.NextStartingWith("RELOADING=1").empty());
  const std::string ready = notify_.NextStartingWith("READY=1");
  EXPECT_NE(ready.find("generation 2"), std::string::npos) << ready;
  reloaded = true;
  for (auto& t : readers) t.join();
  for (int fd : fds) close(fd);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(passes_after_reload.load(), kReaders);

  // New opens and lookups see the new tree at once.
  EXPECT_EQ(ReadHostFile(mnt_ + "/big.bin"), big_new);
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "two\n");
  EXPECT_TRUE(std::filesystem::exists(mnt_ + "/new.txt"));
  EXPECT_FALSE(std::filesystem::exists(mnt_ + "/old.txt"));

  // `webcfs status` shows it.
  auto status = RunCommand({WebcfsBinary(), "status", mnt_}, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  EXPECT_EQ(status.exit_code, 0) << status.all();
  EXPECT_NE(status.all().find("package:     test/app@2.0.0"), std::string::npos) << status.all();
  EXPECT_NE(status.all().find("generation:  2"), std::string::npos) << status.all();

  // A failing reload (every package file removed: re-resolution finds none)
  // keeps the old tree, says why, and never unmounts.
  for (const auto& e : std::filesystem::directory_iterator(registry_)) {
    std::filesystem::remove(e.path());
  }
  auto reload = RunCommand({WebcfsBinary(), "reload", mnt_}, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  EXPECT_EQ(reload.exit_code, 1) << reload.all();
  EXPECT_NE(reload.all().find("reload failed, still serving generation 2"), std::string::npos)
      << reload.all();
  ASSERT_FALSE(notify_.NextStartingWith("RELOADING=1").empty());
  const std::string after_failure = notify_.NextStartingWith("READY=1");
  EXPECT_NE(after_failure.find("last reload failed"), std::string::npos) << after_failure;
  EXPECT_TRUE(Mounted());
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "two\n");
  EXPECT_NE(Log().find("reload failed, still serving generation 2"), std::string::npos) << Log();

  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

// `webcfs status --json` as a parsed document.
nlohmann::json StatusJson(const std::string& mnt, const std::string& runtime) {
  auto status =
      RunCommand({WebcfsBinary(), "status", "--json", mnt}, {"WEBCFS_RUNTIME_DIR=" + runtime});
  EXPECT_EQ(status.exit_code, 0) << status.all();
  auto j = nlohmann::json::parse(status.all(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << status.all();
  return j;
}

TEST_F(DaemonTest, StatusCountsRequestsServed) {
  const std::string big(300 << 10, 'b');
  Publish("1.0.0", "one\n", big);
  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/big.bin"), big);
  EXPECT_FALSE(std::filesystem::exists(mnt_ + "/no-such-file"));

  const nlohmann::json first = StatusJson(mnt_, runtime_);
  ASSERT_TRUE(first.contains("counters")) << first.dump();
  EXPECT_EQ(first["counters_fresh"], true) << first.dump();
  EXPECT_GE(first["counters"]["lookups"].get<uint64_t>(), 2u);  // big.bin, no-such-file
  EXPECT_GE(first["counters"]["reads"].get<uint64_t>(), 1u);
  EXPECT_GE(first["counters"]["bytes_read"].get<uint64_t>(), big.size());
  EXPECT_EQ(first["counters"]["errors"].get<uint64_t>(), 0u);

  // A new file read later shows up: counters are live, not the start-up values.
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  const nlohmann::json second = StatusJson(mnt_, runtime_);
  ASSERT_TRUE(second.contains("counters")) << second.dump();
  EXPECT_GT(second["counters"]["lookups"].get<uint64_t>(),
            first["counters"]["lookups"].get<uint64_t>());
  EXPECT_GE(second["counters"]["bytes_read"].get<uint64_t>(),
            first["counters"]["bytes_read"].get<uint64_t>() + 4);
  EXPECT_GT(second["counters_updated_ms"].get<int64_t>(),
            first["counters_updated_ms"].get<int64_t>());

  // The human form names them too.
  auto text = RunCommand({WebcfsBinary(), "status", mnt_}, {"WEBCFS_RUNTIME_DIR=" + runtime_});
  EXPECT_NE(text.all().find("requests:"), std::string::npos) << text.all();
  EXPECT_NE(text.all().find(" 0 errors"), std::string::npos) << text.all();

  // SIGUSR1 only refreshes the status file: the daemon keeps serving.
  EXPECT_TRUE(Mounted());
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

// The daemon speaks systemd's protocols itself (daemon/systemd_protocol.h): a
// service's notifications arrive, yet neither a service nor a mount started
// from a shell maps libsystemd or its dependencies.
TEST_F(DaemonTest, LibsystemdIsNeverLoaded) {
  Publish("1.0.0", "one\n", "big-one");
  auto maps = [this] { return ReadHostFile("/proc/" + std::to_string(pid_) + "/maps"); };

  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  EXPECT_EQ(maps().find("/libsystemd.so"), std::string::npos) << maps();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  ASSERT_EQ(Wait(), 0) << Log();

  Start(WriteConfig(), "", /*as_service=*/false);
  for (int i = 0; i < 1000 && !Mounted(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(Mounted()) << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  EXPECT_EQ(maps().find("/libsystemd.so"), std::string::npos) << maps();
  EXPECT_EQ(maps().find("/libgcrypt.so"), std::string::npos) << maps();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
}

// The root was listed before the crash, so the kernel answers stat() of the
// dead mount from its attribute cache: only a request that reaches the
// daemon (statfs) shows that the mount is dead.
TEST_F(DaemonTest, KillNineOfAListedMountThenRestartRecoversTheStaleMount) {
  Publish("1.0.0", "one\n", "big");
  const std::string config = WriteConfig();
  Start(config);
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(mnt_)) entries += e.exists();
  EXPECT_GE(entries, 2u);
  ASSERT_EQ(kill(pid_, SIGKILL), 0);
  EXPECT_EQ(Wait(), -1);
  struct statvfs sv;
  ASSERT_NE(statvfs(mnt_.c_str(), &sv), 0);
  ASSERT_EQ(errno, ENOTCONN);  // the dead mount a killed daemon leaves

  Start(config);
  const std::string ready = notify_.NextStartingWith("READY=1");
  ASSERT_FALSE(ready.empty()) << notify_.log().back() << "\n" << Log();
  EXPECT_EQ(ReadHostFile(mnt_ + "/data.txt"), "one\n");
  EXPECT_NE(Log().find("dead webcfs mount from a previous daemon"), std::string::npos) << Log();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(Wait(), 0) << Log();
  EXPECT_FALSE(Mounted());
}

TEST_F(DaemonTest, SigtermWithBusyMountDetachesAndExitsZero) {
  Publish("1.0.0", "one\n", "big");
  Start(WriteConfig());
  ASSERT_FALSE(notify_.NextStartingWith("READY=1").empty()) << Log();
  // A process whose working directory is inside the mount keeps it busy.
  const pid_t busy = fork();
  if (busy == 0) {
    if (chdir(mnt_.c_str()) != 0) _exit(1);
    pause();
    _exit(0);
  }
  // Wait until the child has its cwd inside (its /proc cwd link points there).
  for (auto until = std::chrono::steady_clock::now() + kPatience;
       std::chrono::steady_clock::now() < until;) {
    std::error_code ec;
    if (std::filesystem::read_symlink("/proc/" + std::to_string(busy) + "/cwd", ec) == mnt_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  ASSERT_FALSE(notify_.NextStartingWith("STOPPING=1").empty()) << Log();
  EXPECT_EQ(Wait(), 0) << Log();
  EXPECT_NE(Log().find("is busy"), std::string::npos) << Log();
  EXPECT_FALSE(Mounted());  // detached from the tree
  kill(busy, SIGKILL);
  waitpid(busy, nullptr, 0);
}

TEST_F(DaemonTest, ConfigErrorsNameTheKeyAndExitTwo) {
  const std::string bad = dir_ / "bad.json";
  WriteHostFile(bad, R"({"package": "test/app", "mountpoint": "/tmp/x", "threads": "many"})");
  Start(bad);
  const std::string fatal = notify_.NextStartingWith("ERRNO=");
  EXPECT_NE(fatal.find("key 'threads'"), std::string::npos) << fatal;
  EXPECT_EQ(Wait(), 2);
  EXPECT_NE(Log().find(bad + ": key 'threads': expected an integer in 1..64"), std::string::npos)
      << Log();

  WriteHostFile(bad, R"({"package": "test/app", "mount_point": "/tmp/x"})");
  auto r = RunCommand({WebcfsBinary(), "mount", "--config", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.all().find("key 'mount_point': unknown key"), std::string::npos) << r.all();

  // A flag given on the command line overrides the file.
  Publish("1.0.0", "one\n", "big");
  auto over = RunCommand({WebcfsBinary(), "mount", "--config", WriteConfig(), "--threads", "0"});
  EXPECT_NE(over.exit_code, 0);
  EXPECT_NE(over.all().find("--threads"), std::string::npos) << over.all();
}

// `mount -t fuse.webcfs` runs /sbin/mount.fuse.webcfs. In a private mount
// namespace the built helper is bound over /sbin, so nothing is installed on
// the host; `umount` ends the daemon.
TEST_F(DaemonTest, MountHelperMountsAndUmountUnmounts) {
  Publish("1.0.0", "one\n", "big");
  const std::string script =
      "set -e\n"
      "mount --bind " +
      BuildDir() +
      "/systemd /sbin\n"
      "mount -t fuse.webcfs test/app " +
      mnt_ + " -o ro,nofail,registry=" + registry_ + ",cache=" + (dir_ / "cache").string() +
      ",log_file=" + (dir_ / "helper.log").string() +
      "\n"
      "cat " +
      mnt_ +
      "/data.txt\n"
      "grep -c ' " +
      mnt_ +
      " .* fuse.webcfs ' /proc/self/mountinfo\n"
      "umount " +
      mnt_ +
      "\n"
      "if grep -q ' " +
      mnt_ +
      " ' /proc/self/mountinfo; then echo still-mounted; fi\n"
      "echo done\n";
  auto r = RunCommand({"unshare", "--mount", "--propagation", "private", "sh", "-c", script},
                      {"WEBCFS_BIN=" + WebcfsBinary(), "WEBCFS_RUNTIME_DIR=" + runtime_});
  EXPECT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(r.all(), "one\n1\ndone\n");
}

}  // namespace
}  // namespace webcfs::service_test
