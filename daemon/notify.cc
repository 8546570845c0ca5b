#include "daemon/notify.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <cstdlib>
#include <string>

#include "daemon/libsystemd.h"

namespace webcfs::daemon::notify {

namespace {

// STATUS= ends at a newline in the protocol: keep the line single.
std::string StatusLine(std::string_view status) {
  std::string line = "STATUS=";
  for (char c : status) line += (c == '\n') ? ' ' : c;
  return line;
}

// libsystemd is loaded only when systemd is listening (see libsystemd.h).
const libsystemd::Api* ApiIfRunBySystemd(const char* variable) {
  if (std::getenv(variable) == nullptr) return nullptr;
  std::string error;
  const libsystemd::Api* api = libsystemd::Load(&error);
  if (api == nullptr) spdlog::error("cannot notify systemd ({} is set): {}", variable, error);
  return api;
}

void Send(const std::string& message) {
  const libsystemd::Api* api = ApiIfRunBySystemd("NOTIFY_SOCKET");
  if (api == nullptr) return;
  // unset_environment=0: later notifications (reload, stop) need NOTIFY_SOCKET.
  // A failure to notify is not fatal: without a listener the daemon still serves.
  (void)api->notify(0, message.c_str());
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
  const libsystemd::Api* api = ApiIfRunBySystemd("WATCHDOG_USEC");
  uint64_t usec = 0;
  if (api == nullptr || api->watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace webcfs::daemon::notify
