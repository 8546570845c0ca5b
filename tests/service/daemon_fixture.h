// DaemonTest: runs `webcfs mount --foreground` the way systemd does (a
// NOTIFY_SOCKET datagram socket, WEBCFS_RUNTIME_DIR, optional WATCHDOG_USEC)
// on a fresh directory with a registry and a mountpoint, and cleans up after
// the test (kills the daemon, detaches the mount). Shared by the service tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "service_test_util.h"
#include "tests/common/package_builder.h"

namespace webcfs::service_test {

using testing::File;
using testing::PackageBuilder;

// Bounds against hangs only; nothing here asserts how fast anything is.
constexpr auto kPatience = std::chrono::seconds(60);

// Receives sd_notify datagrams like systemd does.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "bind " << path;
    }
  }
  ~NotifyListener() { close(fd_); }
  const std::string& path() const { return path_; }

  // The next message, or "" when none arrives within kPatience.
  std::string Next() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) != 1) {
      return "";
    }
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return "";
    std::string m(buf, static_cast<size_t>(n));
    log_.push_back(m);
    return m;
  }
  // Skips messages until one starts with `prefix` (returned), "" on timeout.
  std::string NextStartingWith(const std::string& prefix) {
    for (;;) {
      std::string m = Next();
      if (m.empty() || m.rfind(prefix, 0) == 0) return m;
    }
  }
  const std::vector<std::string>& log() const { return log_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> log_;
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(registry_);
    std::filesystem::create_directories(mnt_);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    umount2(mnt_.c_str(), MNT_DETACH);
  }

  // test/app@VERSION: data.txt = `data`, big.bin = `big`, plus `extra` files.
  void Publish(const std::string& version, const std::string& data, const std::string& big,
               std::map<std::string, webc::WriteNode> extra = {}) {
    extra["data.txt"] = File(data);
    extra["big.bin"] = File(big);
    PackageBuilder p;
    p.name = "test/app";
    p.version = version;
    p.Volume("atom", testing::Dir(std::move(extra))).Fs("/", "atom");
    ASSERT_EQ(testing::WritePackage(p, registry_ + "/" + testing::RegistryFileName(p)), "");
  }

  std::string WriteConfig(const std::string& extra_keys = "") {
    const std::string path = dir_ / "app.json";
    WriteHostFile(path, "{\"package\": \"test/app\", \"mountpoint\": \"" + mnt_ +
                            "\", \"registries\": [\"" + registry_ + "\"], \"cache_dir\": \"" +
                            (dir_ / "cache").string() + "\", \"log_level\": \"debug\"" +
                            extra_keys + "}");
    return path;
  }

  // Starts `webcfs mount --foreground --config ...` as systemd would, or
  // (as_service = false) as a shell would: no NOTIFY_SOCKET, no journal.
  void Start(const std::string& config, const std::string& watchdog_usec = "",
             bool as_service = true) {
    const std::string binary = WebcfsBinary();
    const std::string log = log_;
    const std::string notify = notify_.path();
    const std::string runtime = runtime_;
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      if (as_service) {
        setenv("NOTIFY_SOCKET", notify.c_str(), 1);
      } else {
        for (const char* v : {"NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM"}) unsetenv(v);
      }
      setenv("WEBCFS_RUNTIME_DIR", runtime.c_str(), 1);
      if (!watchdog_usec.empty()) {
        setenv("WATCHDOG_USEC", watchdog_usec.c_str(), 1);
        setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
      }
      execl(binary.c_str(), binary.c_str(), "mount", "--foreground", "--config", config.c_str(),
            nullptr);
      _exit(127);
    }
  }

  // Waits for the daemon to exit; its exit status (-1: killed by a signal).
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  bool Mounted() {
    const std::string info = ReadHostFile("/proc/self/mountinfo");
    return info.find(" " + mnt_ + " ") != std::string::npos;
  }

  std::string Log() { return ReadHostFile(log_); }

  testing::TempDir dir_{"daemon-svc"};
  std::string registry_ = dir_ / "registry";
  std::string mnt_ = dir_ / "mnt";
  std::string log_ = dir_ / "daemon.log";
  std::string runtime_ = dir_ / "run";
  NotifyListener notify_{dir_ / "notify.sock"};
  pid_t pid_ = -1;
};

}  // namespace webcfs::service_test
