// The native notify and journal protocols against real AF_UNIX datagram
// sockets bound where systemd would listen: the bytes that arrive are what
// systemd would read.
#include "daemon/systemd_protocol.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/common/host.h"
#include "tests/common/package_builder.h"

namespace webcfs::daemon::systemd_protocol {
namespace {

// A datagram socket bound to a path or, for "@name", an abstract address.
class Listener {
 public:
  explicit Listener(const std::string& address) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.data(), address.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + address.size();
    if (address[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      ++len;  // the path's NUL
    }
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      ADD_FAILURE() << "bind " << address << ": " << std::strerror(errno);
    }
  }
  ~Listener() { close(fd_); }

  // The datagram already queued (senders return once it is), or nullopt.
  std::optional<std::string> Take() {
    std::string buf(1 << 16, '\0');
    const ssize_t n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }

  // A queued datagram's length and the descriptor it carried (-1 if none).
  std::pair<ssize_t, int> TakeWithFd() {
    char data[16];
    iovec iov{data, sizeof data};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    int fd = -1;
    cmsghdr* c = n >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
    if (c != nullptr && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
    return {n, fd};
  }

 private:
  int fd_ = -1;
};

// Saves the variables the protocols read and restores them after each test.
class SystemdProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) {
      const char* v = std::getenv(name);
      saved_.push_back(v != nullptr ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i]) {
        setenv(kVariables[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kVariables[i]);
      }
    }
  }

  static constexpr const char* kVariables[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};
  std::vector<std::optional<std::string>> saved_;
  testing::TempDir dir_{"systemd-protocol"};
};

std::string ErrorOf(const Result<void>& r) { return r ? "(no error)" : r.error().message(); }

// The 64-bit little-endian length the journal's binary field form carries.
std::string Le64(uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return s;
}

TEST_F(SystemdProtocolTest, NotifySendsTheMessageToAPathSocket) {
  const std::string path = dir_ / "notify.sock";
  Listener listener(path);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);

  const Result<void> sent = Notify("READY=1\nSTATUS=serving x");
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(listener.Take(), "READY=1\nSTATUS=serving x");
  EXPECT_EQ(listener.Take(), std::nullopt);
  // Left set: later notifications need it.
  ASSERT_NE(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::string(std::getenv("NOTIFY_SOCKET")), path);
  EXPECT_TRUE(Notify("WATCHDOG=1"));
  EXPECT_EQ(listener.Take(), "WATCHDOG=1");
}

TEST_F(SystemdProtocolTest, NotifySendsToAnAbstractSocket) {
  const std::string name = "@webcfs-test-notify-" + std::to_string(getpid());
  Listener listener(name);
  setenv("NOTIFY_SOCKET", name.c_str(), 1);

  const Result<void> sent = Notify("STOPPING=1");
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(listener.Take(), "STOPPING=1");
}

TEST_F(SystemdProtocolTest, NotifyWithoutNotifySocketSendsNothing) {
  const std::string path = dir_ / "notify.sock";
  Listener listener(path);

  EXPECT_TRUE(Notify("READY=1"));  // unset
  setenv("NOTIFY_SOCKET", "", 1);
  EXPECT_TRUE(Notify("READY=1"));  // empty
  EXPECT_EQ(listener.Take(), std::nullopt);
}

TEST_F(SystemdProtocolTest, NotifyRejectsAddressesOfAnotherForm) {
  const std::vector<std::string> bad = {
      "relative/notify.sock",
      "@",
      "vsock:2:1234",
      "/" + std::string(sizeof(sockaddr_un::sun_path) - 1, 'p'),  // no room for the NUL
      "@" + std::string(sizeof(sockaddr_un::sun_path), 'a'),      // one byte too long
  };
  for (const std::string& address : bad) {
    setenv("NOTIFY_SOCKET", address.c_str(), 1);
    const Result<void> sent = Notify("READY=1");
    ASSERT_FALSE(sent) << address;
    EXPECT_EQ(sent.error().code(), Error::Code::kInvalidArgument) << sent.error().message();
    EXPECT_NE(sent.error().message().find("notify socket " + address), std::string::npos)
        << sent.error().message();
  }
}

TEST_F(SystemdProtocolTest, NotifyAcceptsTheLongestAddresses) {
  const size_t room = sizeof(sockaddr_un::sun_path);
  const std::string abstract = "@" + std::string(room - 1, 'a');  // fills sun_path
  Listener listener(abstract);
  setenv("NOTIFY_SOCKET", abstract.c_str(), 1);
  const Result<void> sent = Notify("READY=1");
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(listener.Take(), "READY=1");
}

TEST_F(SystemdProtocolTest, NotifyToAMissingSocketSaysWhich) {
  const std::string path = dir_ / "nobody-listens.sock";
  setenv("NOTIFY_SOCKET", path.c_str(), 1);

  const Result<void> sent = Notify("READY=1");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().sys_errno(), ENOENT);
  EXPECT_EQ(sent.error().message(),
            "notify socket " + path + ": " + std::string(std::strerror(ENOENT)));
}

TEST_F(SystemdProtocolTest, WatchdogIntervalIsWatchdogUsec) {
  EXPECT_EQ(WatchdogInterval(), std::nullopt);  // unset
  setenv("WATCHDOG_USEC", "200000", 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::microseconds(200000));
  setenv("WATCHDOG_USEC", "9223372036854775807", 1);  // the largest that fits
  EXPECT_EQ(WatchdogInterval(), std::chrono::microseconds(9223372036854775807));
}

TEST_F(SystemdProtocolTest, WatchdogIntervalRejectsMalformedOrZeroUsec) {
  for (const char* value : {"0", "", "abc", "-5", "+5", " 5", "5 ", "5s", "0x10",
                            "9223372036854775808", "99999999999999999999999"}) {
    setenv("WATCHDOG_USEC", value, 1);
    EXPECT_EQ(WatchdogInterval(), std::nullopt) << "WATCHDOG_USEC='" << value << "'";
  }
}

TEST_F(SystemdProtocolTest, WatchdogIntervalOnlyForTheWatchedPid) {
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::seconds(30));

  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  const std::vector<std::string> garbage = {"", "abc", "-1", std::to_string(getpid()) + "x"};
  for (const std::string& pid : garbage) {
    setenv("WATCHDOG_PID", pid.c_str(), 1);
    EXPECT_EQ(WatchdogInterval(), std::nullopt) << "WATCHDOG_PID='" << pid << "'";
  }
}

TEST_F(SystemdProtocolTest, JournalEntryOfSingleLineFields) {
  const std::string path = dir_ / "journal.sock";
  Listener journal(path);

  const Result<void> sent = SendJournal({"MESSAGE=mounted /mnt/x", "PRIORITY=6",
                                         "SYSLOG_IDENTIFIER=webcfs", "MOUNTPOINT=/mnt/x", "EMPTY="},
                                        path.c_str());
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(journal.Take(),
            "MESSAGE=mounted /mnt/x\nPRIORITY=6\nSYSLOG_IDENTIFIER=webcfs\nMOUNTPOINT=/mnt/x\n"
            "EMPTY=\n");
}

TEST_F(SystemdProtocolTest, JournalValueWithNewlinesTakesTheBinaryForm) {
  const std::string path = dir_ / "journal.sock";
  Listener journal(path);

  // '=' inside a value is data; a NUL too.
  const std::string value = std::string("first\nsecond=2\0third", 20);
  const Result<void> sent = SendJournal({"MESSAGE=" + value, "PRIORITY=3"}, path.c_str());
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(journal.Take(), "MESSAGE\n" + Le64(20) + value + "\nPRIORITY=3\n");
}

TEST_F(SystemdProtocolTest, JournalRejectsInvalidFieldNames) {
  const std::string path = dir_ / "journal.sock";
  Listener journal(path);

  const std::string longest(64, 'N');
  const std::vector<std::string> bad = {
      "message=lower case", "_PID=1",      "1ABC=leading digit",        "MY-FIELD=dash",
      "NO EQUALS SIGN",     "=empty name", longest + "N=65 characters", "MESSAGÉ=non-ASCII"};
  for (const std::string& field : bad) {
    const Result<void> sent = SendJournal({"MESSAGE=x", field}, path.c_str());
    ASSERT_FALSE(sent) << field;
    EXPECT_EQ(sent.error().code(), Error::Code::kInvalidArgument) << sent.error().message();
    EXPECT_NE(sent.error().message().find("invalid journal field name"), std::string::npos)
        << sent.error().message();
  }
  EXPECT_FALSE(SendJournal({}, path.c_str()));
  EXPECT_EQ(journal.Take(), std::nullopt);  // nothing half-sent

  const Result<void> sent = SendJournal({longest + "=64 characters", "A_1="}, path.c_str());
  ASSERT_TRUE(sent) << ErrorOf(sent);
  EXPECT_EQ(journal.Take(), longest + "=64 characters\nA_1=\n");
}

TEST_F(SystemdProtocolTest, JournalMissingSocketSaysWhich) {
  const std::string path = dir_ / "no-journald.sock";
  const Result<void> sent = SendJournal({"MESSAGE=x"}, path.c_str());
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().message(),
            "journal socket " + path + ": " + std::string(std::strerror(ENOENT)));
}

// The kernel refuses a datagram larger than the sender's buffer (EMSGSIZE);
// its default is net.core.wmem_default.
size_t LargerThanADatagram() {
  size_t wmem_default = 0;
  std::ifstream("/proc/sys/net/core/wmem_default") >> wmem_default;
  return std::max<size_t>(300 * 1024, wmem_default + 64 * 1024);
}

TEST_F(SystemdProtocolTest, JournalEntryTooLargeForADatagramGoesAsASealedMemfd) {
  const std::string path = dir_ / "journal.sock";
  Listener journal(path);
  std::string value = "first line\n";
  value.resize(LargerThanADatagram(), 'x');

  const Result<void> sent = SendJournal({"MESSAGE=" + value, "PRIORITY=6"}, path.c_str());
  ASSERT_TRUE(sent) << ErrorOf(sent);
  const auto [length, fd] = journal.TakeWithFd();
  ASSERT_EQ(length, 0);  // an empty datagram carries the descriptor
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fcntl(fd, F_GET_SEALS),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);  // what journald needs
  const std::string expected = "MESSAGE\n" + Le64(value.size()) + value + "\nPRIORITY=6\n";
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  ASSERT_EQ(static_cast<size_t>(st.st_size), expected.size());
  std::string contents(expected.size(), '\0');
  EXPECT_EQ(pread(fd, contents.data(), contents.size(), 0), static_cast<ssize_t>(expected.size()));
  EXPECT_TRUE(contents == expected);  // not EXPECT_EQ: a failure would print 300 KiB
  close(fd);
}

}  // namespace
}  // namespace webcfs::daemon::systemd_protocol
