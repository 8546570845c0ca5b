#include "daemon/notify.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <string>

#include "daemon/systemd_protocol.h"

namespace webcfs::daemon::notify {

namespace {

// STATUS= ends at a newline in the protocol: keep the line single.
std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += (c == '\n') ? ' ' : c;
  return line;
}

// A failure to notify is not fatal: without a listener the daemon still serves.
// Logged each time, since systemd may act on what it did not hear (a missed
// WATCHDOG=1 restarts the service).
void Send(const std::string& message) {
  if (auto sent = systemd_protocol::Notify(message); !sent) {
    spdlog::warn("cannot notify systemd: {}", sent.error().message());
  }
}

uint64_t MonotonicUsec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void Status(std::string_view status) { Send(StatusLine(status)); }

void Ready(std::string_view status) { Send("READY=1\n" + StatusLine(status)); }

void Reloading(std::string_view status) {
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicUsec()) + "\n" +
       StatusLine(status));
}

void Stopping(std::string_view status) { Send("STOPPING=1\n" + StatusLine(status)); }

void Watchdog() { Send("WATCHDOG=1"); }

void Fatal(int errno_value, std::string_view status) {
  Send("ERRNO=" + std::to_string(errno_value) + "\n" + StatusLine(status));
}

std::optional<std::chrono::microseconds> WatchdogInterval() {
  return systemd_protocol::WatchdogInterval();
}

}  // namespace webcfs::daemon::notify
