#include "daemon/systemd_protocol.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "webc/base/unique_fd.h"

namespace webcfs::daemon::systemd_protocol {

namespace {

struct UnixAddress {
  sockaddr_un addr{};
  socklen_t len = 0;
};

// "/path", or "@name" for an abstract socket: systemd's notation, where '@'
// stands for the leading NUL byte. An abstract address has no terminating NUL
// (its length is part of the name); a path keeps one.
Result<UnixAddress> ParseAddress(std::string_view address) {
  UnixAddress a;
  a.addr.sun_family = AF_UNIX;
  const bool abstract = address.size() > 1 && address[0] == '@';
  if (!abstract && (address.empty() || address[0] != '/')) {
    return Error::InvalidArgument("not an absolute path or an @abstract socket name");
  }
  const size_t room = sizeof(a.addr.sun_path) - (abstract ? 0 : 1);
  if (address.size() > room) {
    return Error::InvalidArgument("address longer than " + std::to_string(room) + " bytes");
  }
  std::memcpy(a.addr.sun_path, address.data(), address.size());
  if (abstract) a.addr.sun_path[0] = '\0';
  a.len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (abstract ? 0 : 1));
  return a;
}

// Sends `data` as one datagram from a fresh socket, with `fd` attached
// (SCM_RIGHTS) unless it is -1. The error keeps errno so that callers can
// tell EMSGSIZE apart.
Result<void> SendDatagram(const UnixAddress& to, std::string_view data, int fd,
                          const std::string& what) {
  webc::UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Error::Io(what + ": socket", errno);
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr_un*>(&to.addr);
  msg.msg_namelen = to.len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock.get(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  // A datagram is sent whole or not at all.
  if (n < 0) return Error::Io(what, errno);
  return Ok();
}

// A whole decimal number: no sign, spaces or suffix (what systemd writes).
template <typename T>
std::optional<T> ParseDecimal(const char* s) {
  if (s == nullptr || *s == '\0' || *s == '-') return std::nullopt;
  const char* end = s + std::strlen(s);
  T value{};
  const auto [ptr, ec] = std::from_chars(s, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The names journald accepts from a client; it drops the others (leading '_'
// is reserved for the fields journald itself adds).
bool ValidFieldName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '_' || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The native protocol's entry: "NAME=value\n" per field, or, when the value
// holds a newline, "NAME\n", the value's length as 64-bit little-endian,
// the value and "\n".
Result<std::string> SerializeEntry(const std::vector<std::string>& fields) {
  if (fields.empty()) return Error::InvalidArgument("journal entry without fields");
  std::string entry;
  for (const std::string& field : fields) {
    const size_t eq = field.find('=');
    const std::string_view name = std::string_view(field).substr(0, eq);
    if (eq == std::string::npos || !ValidFieldName(name)) {
      return Error::InvalidArgument("invalid journal field name '" +
                                    std::string(name.substr(0, 80)) + "'");
    }
    const std::string_view value = std::string_view(field).substr(eq + 1);
    if (value.find('\n') == std::string_view::npos) {
      entry.append(field).push_back('\n');
      continue;
    }
    entry.append(name).push_back('\n');
    const uint64_t size = value.size();
    for (int i = 0; i < 8; ++i) entry.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
    entry.append(value).push_back('\n');
  }
  return entry;
}

// An entry too large for one datagram goes as a memfd (as libsystemd does).
// journald takes only a sealed one, which cannot change while it reads.
Result<void> SendAsMemfd(const UnixAddress& to, std::string_view entry, const std::string& what) {
  webc::UniqueFd memfd(::memfd_create("journal-entry", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (memfd.get() < 0) return Error::Io(what + ": memfd_create", errno);
  for (size_t done = 0; done < entry.size();) {
    const ssize_t n = ::write(memfd.get(), entry.data() + done, entry.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::Io(what + ": writing memfd", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  if (::fcntl(memfd.get(), F_ADD_SEALS, kSeals) < 0) {
    return Error::Io(what + ": sealing memfd", errno);
  }
  return SendDatagram(to, {}, memfd.get(), what);
}

}  // namespace

Result<void> Notify(std::string_view message) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return Ok();
  const std::string what = std::string("notify socket ") + socket;
  auto address = ParseAddress(socket);
  if (!address) return std::move(address).error().With(what);
  return SendDatagram(*address, message, -1, what);
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  const auto usec = ParseDecimal<std::chrono::microseconds::rep>(std::getenv("WATCHDOG_USEC"));
  if (!usec || *usec <= 0) return std::nullopt;
  // Set when the watchdog is meant for one process of several, e.g. a parent.
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr) {
    const auto watched = ParseDecimal<pid_t>(pid);
    if (!watched || *watched != ::getpid()) return std::nullopt;
  }
  return std::chrono::microseconds(*usec);
}

Result<void> SendJournal(const std::vector<std::string>& fields, const char* socket_path) {
  auto entry = SerializeEntry(fields);
  if (!entry) return std::move(entry).error();
  const std::string what = std::string("journal socket ") + socket_path;
  auto address = ParseAddress(socket_path);
  if (!address) return std::move(address).error().With(what);
  auto sent = SendDatagram(*address, *entry, -1, what);
  if (sent || (sent.error().sys_errno() != EMSGSIZE && sent.error().sys_errno() != ENOBUFS)) {
    return sent;
  }
  return SendAsMemfd(*address, *entry, what);
}

}  // namespace webcfs::daemon::systemd_protocol
